// The optional virtual network (vnetEnabled): the Function App joins a subnet delegated to
// Flex Consumption, and storage, Key Vault and the SQL server get private endpoints with their
// private DNS zones. The Durable Task Scheduler and Application Insights stay on their public
// endpoints, which only Entra tokens with a role on them open.
targetScope = 'resourceGroup'

param location string
param tags object = {}
param token string
param storageId string
param vaultId string
param sqlServerId string

param addressPrefix string = '10.40.0.0/16'
param appSubnetPrefix string = '10.40.1.0/24'
param endpointSubnetPrefix string = '10.40.2.0/24'

// One private endpoint per service and sub-resource, each with its DNS zone.
var endpoints = [
  { name: 'blob', target: storageId, group: 'blob', zone: 'privatelink.blob.${environment().suffixes.storage}' }
  { name: 'queue', target: storageId, group: 'queue', zone: 'privatelink.queue.${environment().suffixes.storage}' }
  { name: 'table', target: storageId, group: 'table', zone: 'privatelink.table.${environment().suffixes.storage}' }
  { name: 'vault', target: vaultId, group: 'vault', zone: 'privatelink.vaultcore.azure.net' }
  { name: 'sql', target: sqlServerId, group: 'sqlServer', zone: 'privatelink${environment().suffixes.sqlServerHostname}' }
]

resource vnet 'Microsoft.Network/virtualNetworks@2024-01-01' = {
  name: 'vnet-sqlfleet-${token}'
  location: location
  tags: tags
  properties: {
    addressSpace: { addressPrefixes: [addressPrefix] }
    subnets: [
      {
        name: 'app'
        properties: {
          addressPrefix: appSubnetPrefix
          delegations: [{ name: 'flex-consumption', properties: { serviceName: 'Microsoft.App/environments' } }]
          networkSecurityGroup: { id: appRules.id }
        }
      }
      {
        name: 'private-endpoints'
        properties: {
          addressPrefix: endpointSubnetPrefix
          privateEndpointNetworkPolicies: 'Disabled'
          networkSecurityGroup: { id: endpointRules.id }
        }
      }
    ]
  }
}

// Default rules only (traffic within the network, outbound to the internet): the groups exist so
// that operators can tighten them without redeploying the subnets.
resource appRules 'Microsoft.Network/networkSecurityGroups@2024-01-01' = {
  name: 'nsg-sqlfleet-app-${token}'
  location: location
  tags: tags
  properties: { securityRules: [] }
}

resource endpointRules 'Microsoft.Network/networkSecurityGroups@2024-01-01' = {
  name: 'nsg-sqlfleet-endpoints-${token}'
  location: location
  tags: tags
  properties: { securityRules: [] }
}

resource zones 'Microsoft.Network/privateDnsZones@2020-06-01' = [
  for endpoint in endpoints: {
    name: endpoint.zone
    location: 'global'
    tags: tags
  }
]

resource zoneLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = [
  for (endpoint, i) in endpoints: {
    parent: zones[i]
    name: 'vnet-sqlfleet'
    location: 'global'
    tags: tags
    properties: {
      registrationEnabled: false
      virtualNetwork: { id: vnet.id }
    }
  }
]

resource privateEndpoints 'Microsoft.Network/privateEndpoints@2024-01-01' = [
  for (endpoint, i) in endpoints: {
    name: 'pe-sqlfleet-${endpoint.name}-${token}'
    location: location
    tags: tags
    properties: {
      subnet: { id: '${vnet.id}/subnets/private-endpoints' }
      privateLinkServiceConnections: [
        {
          name: endpoint.name
          properties: {
            privateLinkServiceId: endpoint.target
            groupIds: [endpoint.group]
          }
        }
      ]
    }
  }
]

resource zoneGroups 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-01-01' = [
  for (endpoint, i) in endpoints: {
    parent: privateEndpoints[i]
    name: 'default'
    properties: {
      privateDnsZoneConfigs: [{ name: endpoint.name, properties: { privateDnsZoneId: zones[i].id } }]
    }
  }
]

output appSubnetId string = '${vnet.id}/subnets/app'
output vnetId string = vnet.id
