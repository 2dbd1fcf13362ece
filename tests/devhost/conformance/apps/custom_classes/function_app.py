"""Custom classes as Durable Functions payloads: ``to_json``/``from_json``.

The SDK serializes an object of a class with a static ``to_json`` as
``{"__class__", "__module__", "__data__"}`` and rebuilds it with the class's ``from_json``
(looked up in the already-imported module). Here an ``Order`` is the orchestration input (from
the HTTP starter and for a sub-orchestration) and an activity input; an ``Invoice`` is an
activity output. An orchestrator cannot return such an object: the SDK checks that the output
is plain JSON, so ``bill_order`` returns the invoice's ``to_json`` data and ``bill_as_object``
shows what returning the object itself does.
"""

import azure.durable_functions as df
import azure.functions as func

myApp = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


class Order:
    def __init__(self, sku: str, quantity: int, unit_price: float):
        self.sku = sku
        self.quantity = quantity
        self.unit_price = unit_price

    def subtotal(self) -> float:
        return self.quantity * self.unit_price

    @staticmethod
    def to_json(obj: "Order") -> dict:
        return {"sku": obj.sku, "quantity": obj.quantity, "unitPrice": obj.unit_price}

    @staticmethod
    def from_json(data: dict) -> "Order":
        return Order(data["sku"], data["quantity"], data["unitPrice"])


class Invoice:
    def __init__(self, sku: str, subtotal: float, tax: float):
        self.sku = sku
        self.subtotal = subtotal
        self.tax = tax

    @property
    def total(self) -> float:
        return round(self.subtotal + self.tax, 2)

    @staticmethod
    def to_json(obj: "Invoice") -> dict:
        return {"sku": obj.sku, "subtotal": obj.subtotal, "tax": obj.tax}

    @staticmethod
    def from_json(data: dict) -> "Invoice":
        return Invoice(data["sku"], data["subtotal"], data["tax"])


@myApp.route(route="orders/{functionName}", methods=["POST"])
@myApp.durable_client_input(client_name="client")
async def start_billing(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    order = Order.from_json(req.get_json())
    instance_id = await client.start_new(req.route_params["functionName"], client_input=order)
    return client.create_check_status_response(req, instance_id)


@myApp.orchestration_trigger(context_name="context")
def bill_order(context: df.DurableOrchestrationContext):
    order = context.get_input()
    invoice = yield context.call_activity("price_order", order)
    receipt = yield context.call_activity(render_receipt, invoice)
    discounted = yield context.call_sub_orchestrator(
        "apply_discount", Order(order.sku, order.quantity * 2, order.unit_price)
    )
    return {
        "inputType": type(order).__name__,
        "invoiceType": type(invoice).__name__,
        "total": invoice.total,
        "receipt": receipt,
        "invoice": Invoice.to_json(invoice),
        "discounted": discounted,
    }


@myApp.orchestration_trigger(context_name="context")
def apply_discount(context: df.DurableOrchestrationContext):
    order = context.get_input()
    invoice = yield context.call_activity("price_order", order)
    return {"inputType": type(order).__name__, "total": round(invoice.total * 0.9, 2)}


@myApp.orchestration_trigger(context_name="context")
def bill_as_object(context: df.DurableOrchestrationContext):
    invoice = yield context.call_activity("price_order", context.get_input())
    return invoice


@myApp.activity_trigger(input_name="order")
def price_order(order: Order) -> Invoice:
    subtotal = order.subtotal()
    return Invoice(order.sku, subtotal, round(subtotal * 0.2, 2))


@myApp.activity_trigger(input_name="invoice")
def render_receipt(invoice: Invoice) -> str:
    return f"{type(invoice).__name__} {invoice.sku}: {invoice.total:.2f}"
