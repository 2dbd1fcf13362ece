// SQL Fleet on Azure: what `azd up` provisions (azure.yaml). A resource group named after the azd
// environment, holding everything resources.bicep declares.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; it names the resource group and seeds resource names.')
param environmentName string

@minLength(1)
@description('Azure region of every resource.')
param location string

@description('Python version of the Function App (SQL Fleet supports 3.11 to 3.13).')
@allowed(['3.11', '3.12', '3.13'])
param pythonVersion string = '3.13'

@secure()
@description('Fernet key that encrypts password credentials (SQLFLEET_CREDENTIAL_KEY); the azd preprovision hook makes one.')
param credentialKey string

@description('Object id of the user or service principal running azd (AZURE_PRINCIPAL_ID): gets the Durable Task Scheduler dashboard. Empty: nobody.')
param principalId string = ''

@description('Put storage, Key Vault and the job database behind private endpoints in a new virtual network, and the app into it.')
param vnetEnabled bool = false

@description('E-mail address the failed-target alert writes to. Empty: the alert fires without notifying anyone.')
param alertEmail string = ''

@description('Durable Task Scheduler plan: Consumption (pay per use) or Dedicated (capacity units).')
@allowed(['Consumption', 'Dedicated'])
param schedulerSku string = 'Consumption'

@description('Service objective of the job database. Only provisioned ones: a serverless database would pause and stall every execution.')
@allowed(['S1', 'S2', 'S3', 'GP_Gen5_2', 'GP_Gen5_4', 'BC_Gen5_2'])
param jobDatabaseSku string = 'S1'

var tags = { 'azd-env-name': environmentName, application: 'sqlfleet' }

resource group 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module resources 'resources.bicep' = {
  name: 'sqlfleet-resources'
  scope: group
  params: {
    environmentName: environmentName
    location: location
    tags: tags
    pythonVersion: pythonVersion
    credentialKey: credentialKey
    principalId: principalId
    vnetEnabled: vnetEnabled
    alertEmail: alertEmail
    schedulerSku: schedulerSku
    jobDatabaseSku: jobDatabaseSku
  }
}

output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = group.name
output AZURE_FUNCTION_APP_NAME string = resources.outputs.functionAppName
output SQLFLEET_URL string = resources.outputs.appUrl
output SQLFLEET_MONITORING_URL string = resources.outputs.monitoringUrl
output AZURE_KEY_VAULT_NAME string = resources.outputs.keyVaultName
output AZURE_SQL_SERVER string = resources.outputs.sqlServerFqdn
output DURABLE_TASK_SCHEDULER_ENDPOINT string = resources.outputs.schedulerEndpoint
output SQLFLEET_IDENTITY_CLIENT_ID string = resources.outputs.identityClientId
output SQLFLEET_IDENTITY_NAME string = resources.outputs.identityName
