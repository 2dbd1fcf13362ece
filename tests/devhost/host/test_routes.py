"""Route templates as the Functions host matches them."""

from __future__ import annotations

import pytest

from devhost.http.routes import RouteTemplate, RouteTemplateError, route_precedence


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("hello", "hello", {}),
        ("hello", "HELLO/", {}),
        ("hello", "hello/x", None),
        ("items/{id}", "items/42", {"id": "42"}),
        ("items/{id}", "items", None),
        ("items/{id:int}", "items/42", {"id": "42"}),
        ("items/{id:int}", "items/-7", {"id": "-7"}),
        ("items/{id:int}", "items/abc", None),
        ("items/{id:int}", "items/99999999999", None),
        ("items/{id:long}", "items/99999999999", {"id": "99999999999"}),
        ("items/{id:int:min(10)}", "items/9", None),
        ("items/{id:int:min(10)}", "items/10", {"id": "10"}),
        ("items/{id:range(1,5)}", "items/6", None),
        (
            "items/{id:guid}",
            "items/0f8fad5b-d9cb-469f-a165-70867728950e",
            {"id": "0f8fad5b-d9cb-469f-a165-70867728950e"},
        ),
        ("items/{id:alpha}", "items/ab1", None),
        ("items/{id:bool}", "items/True", {"id": "True"}),
        ("items/{id:regex(^a+$)}", "items/aaa", {"id": "aaa"}),
        ("items/{id:regex(^a+$)}", "items/aab", None),
        ("items/{id:length(2)}", "items/ab", {"id": "ab"}),
        ("items/{id:maxlength(2)}", "items/abc", None),
        ("opt/{x?}", "opt", {}),
        ("opt/{x?}", "opt/", {}),
        ("opt/{x?}", "opt/1", {"x": "1"}),
        ("opt/{x?}/{y?}", "opt/1/2", {"x": "1", "y": "2"}),
        ("opt/{x=zz}", "opt", {"x": "zz"}),
        ("opt/{x=zz}", "opt/a", {"x": "a"}),
        ("files/{*rest}", "files", {}),
        ("files/{*rest}", "files/a/b/c.txt", {"rest": "a/b/c.txt"}),
        ("files/{**rest}", "files/a/b", {"rest": "a/b"}),
        ("docs/{name}.{ext}", "docs/report.pdf", {"name": "report", "ext": "pdf"}),
        ("items/{id}", "items/a%20b", {"id": "a b"}),
        (
            "instances/{id?}/raiseEvent/{event}",
            "instances/abc/raiseEvent/Go",
            {"id": "abc", "event": "Go"},
        ),
        ("instances/{id?}/raiseEvent/{event}", "instances/raiseEvent/Go", None),
        ("", "", {}),
    ],
)
def test_templates_match_like_aspnet(template, path, expected):
    assert RouteTemplate(template).match(path) == expected


def test_values_are_left_alone_when_the_path_is_already_decoded():
    assert RouteTemplate("items/{id}").match("items/a%20b", decode=False) == {"id": "a%20b"}


@pytest.mark.parametrize(
    "template",
    ["files/{*rest}/more", "a//b", "items/{id:nonsense}", "items/{id", "items/{bad name}"],
)
def test_bad_templates_are_refused_with_the_template_in_the_message(template):
    with pytest.raises(RouteTemplateError, match="route '"):
        RouteTemplate(template)


def test_precedence_puts_literals_before_constrained_before_plain_before_catch_all():
    templates = [
        RouteTemplate(t)
        for t in ["items/{*rest}", "items/{name}", "items/{id:int}", "items/special", "items/{x?}"]
    ]
    ordered = [t.template for t in sorted(templates, key=route_precedence)]
    assert ordered == [
        "items/special",
        "items/{id:int}",
        "items/{name}",
        "items/{x?}",
        "items/{*rest}",
    ]
