// Everything SQL Fleet runs on in Azure, in one resource group. One user-assigned managed identity
// does all the signing in: storage (identity-based AzureWebJobsStorage, no keys), the Durable Task
// Scheduler, Key Vault, Application Insights and the job database (Entra-only Azure SQL).
//
// Plan: Flex Consumption. Elastic Premium would also run long steps, but on Linux it keeps the app
// content in an Azure Files share that only a storage key can open, and SQL Fleet uses no keys.
// Flex Consumption deploys from a blob container the identity reads, runs functionTimeout -1
// (host.json), scales out on Durable Task Scheduler work, and joins a virtual network.
targetScope = 'resourceGroup'

param environmentName string
param location string = resourceGroup().location
param tags object = {}

@allowed(['3.11', '3.12', '3.13'])
param pythonVersion string = '3.13'

@secure()
param credentialKey string

param principalId string = ''

@allowed(['User', 'ServicePrincipal', 'Group'])
param principalType string = 'User'

param vnetEnabled bool = false
param alertEmail string = ''

@allowed(['Consumption', 'Dedicated'])
param schedulerSku string = 'Consumption'

@minValue(1)
param schedulerCapacity int = 1

@description('Addresses allowed to reach the scheduler; callers must still present an Entra token with a Durable Task role.')
param schedulerIpAllowlist array = ['0.0.0.0/0']

@allowed(['S1', 'S2', 'S3', 'GP_Gen5_2', 'GP_Gen5_4', 'BC_Gen5_2'])
param jobDatabaseSku string = 'S1'

@allowed([2048, 4096])
param instanceMemoryMB int = 2048

@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@minValue(1)
param historyRetentionDays int = 45

@minValue(1)
param maxConcurrentTargets int = 100

var token = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var taskHubName = 'sqlfleet'
var jobDatabaseName = 'sqlfleet-jobs'
var deploymentContainer = 'app-package'
// host.json's maxConcurrentActivityFunctions + maxConcurrentOrchestratorFunctions (32 + 16): every
// plain Function runs in the worker's thread pool (sqlfleet.settings.host_app_settings()).
var workerThreads = '48'
var failedTargetsPrefix = 'SQL Fleet: failed target executions'
var databaseSkus = {
  S1: { name: 'S1', tier: 'Standard' }
  S2: { name: 'S2', tier: 'Standard' }
  S3: { name: 'S3', tier: 'Standard' }
  GP_Gen5_2: { name: 'GP_Gen5', tier: 'GeneralPurpose', family: 'Gen5', capacity: 2 }
  GP_Gen5_4: { name: 'GP_Gen5', tier: 'GeneralPurpose', family: 'Gen5', capacity: 4 }
  BC_Gen5_2: { name: 'BC_Gen5', tier: 'BusinessCritical', family: 'Gen5', capacity: 2 }
}
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  durableTaskDataContributor: '0ad04412-c4d5-4796-b79c-f76d14c8d402'
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-sqlfleet-${token}'
  location: location
  tags: tags
}

// --- monitoring ------------------------------------------------------------------------------

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-sqlfleet-${token}'
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-sqlfleet-${token}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    DisableLocalAuth: true // telemetry is sent with the identity's Entra token only
  }
}

resource insightsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(insights.id, identity.id, roles.monitoringMetricsPublisher)
  scope: insights
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
  }
}

// --- storage: the host's own (keys, timer locks, diagnostics) and the deployment package -------

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: the network rule denies by default with vnetEnabled; without a virtual network Flex Consumption reaches storage from shared addresses, and shared keys are off, so only the identity's Entra token opens the account.
  // checkov:skip=CKV_AZURE_43: the name is 'stsqlfleet' plus the 13 lower-case letters and digits of uniqueString (23 characters, valid); checkov cannot evaluate the expression.
  // checkov:skip=CKV_AZURE_206: LRS is enough: the account holds the deployment package and the host's locks and keys, all recreated by the next deployment; durable state lives in the Durable Task Scheduler.
  name: 'stsqlfleet${take(token, 14)}'
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: vnetEnabled ? 'Disabled' : 'Enabled'
    networkAcls: {
      // Without a virtual network the app reaches storage from Flex Consumption's shared
      // addresses, so the account stays reachable and only Entra tokens open it.
      defaultAction: vnetEnabled ? 'Deny' : 'Allow'
      bypass: 'AzureServices'
    }
  }

  resource blobs 'blobServices' = {
    name: 'default'
    properties: {
      deleteRetentionPolicy: { enabled: true, days: 7 }
    }

    resource packages 'containers' = {
      name: deploymentContainer
      properties: { publicAccess: 'None' }
    }
  }
}

resource storageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in [roles.storageBlobDataOwner, roles.storageQueueDataContributor, roles.storageTableDataContributor]: {
    name: guid(storage.id, identity.id, role)
    scope: storage
    properties: {
      principalId: identity.properties.principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
    }
  }
]

// --- Key Vault: SQLFLEET_CREDENTIAL_KEY ---------------------------------------------------------

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109: the firewall denies by default with vnetEnabled; without a virtual network the app resolves its Key Vault reference from shared addresses, and RBAC (one role, on one secret) guards the vault.
  name: 'kv-sqlf-${take(token, 13)}'
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: vnetEnabled ? 'Disabled' : 'Enabled'
    networkAcls: {
      // Without a virtual network the app resolves its Key Vault reference from shared
      // addresses; RBAC (one role on one secret) is what guards the vault then.
      defaultAction: vnetEnabled ? 'Deny' : 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource credentialKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41: the key decrypts the stored passwords for as long as they exist; an expiry date would stop the app from reading it and lock every password credential. Rotate it by re-applying the fleet (apply --update-secrets) under a new key.
  parent: vault
  name: 'sqlfleet-credential-key'
  properties: {
    value: credentialKey
    contentType: 'Fernet key (SQLFLEET_CREDENTIAL_KEY)'
    attributes: { enabled: true }
  }
}

resource credentialKeyReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(credentialKeySecret.id, identity.id, roles.keyVaultSecretsUser)
  scope: credentialKeySecret
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
  }
}

// --- Durable Task Scheduler: the task hub ------------------------------------------------------

resource scheduler 'Microsoft.DurableTask/schedulers@2025-11-01' = {
  name: 'dts-sqlfleet-${token}'
  location: location
  tags: tags
  properties: {
    ipAllowlist: schedulerIpAllowlist
    sku: schedulerSku == 'Dedicated' ? { name: 'Dedicated', capacity: schedulerCapacity } : { name: 'Consumption' }
  }

  resource hub 'taskHubs' = {
    name: taskHubName
  }
}

resource schedulerWorker 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(scheduler.id, identity.id, roles.durableTaskDataContributor)
  scope: scheduler
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.durableTaskDataContributor)
  }
}

resource schedulerDashboard 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(principalId)) {
  name: guid(scheduler.id, principalId, roles.durableTaskDataContributor)
  scope: scheduler
  properties: {
    principalId: principalId
    principalType: principalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.durableTaskDataContributor)
  }
}

// --- the job database: Azure SQL, Microsoft Entra only, the identity as its administrator -------

resource sqlServer 'Microsoft.Sql/servers@2023-08-01' = {
  // checkov:skip=CKV_AZURE_113: public network access is off with vnetEnabled; without it Entra-only sign-in admits nobody but the identity.
  name: 'sql-sqlfleet-${token}'
  location: location
  tags: tags
  properties: {
    version: '12.0'
    minimalTlsVersion: '1.2'
    publicNetworkAccess: vnetEnabled ? 'Disabled' : 'Enabled'
    administrators: {
      administratorType: 'ActiveDirectory'
      azureADOnlyAuthentication: true
      principalType: 'Application'
      login: identity.name
      // Azure SQL knows an application (a managed identity too) by its client id.
      sid: identity.properties.clientId
      tenantId: tenant().tenantId
    }
  }

  resource auditing 'auditingSettings' = {
    name: 'default'
    properties: {
      state: 'Enabled'
      isAzureMonitorTargetEnabled: true
      retentionDays: 0
    }
  }
}

// 0.0.0.0 is Azure's "allow Azure services" rule, not the internet: Flex Consumption has no fixed
// outbound addresses, and Entra-only sign-in admits nobody but the identity. With vnetEnabled there
// is no such rule and public access is off.
resource azureServices 'Microsoft.Sql/servers/firewallRules@2023-08-01' = if (!vnetEnabled) {
  parent: sqlServer
  name: 'AllowAllWindowsAzureIps'
  properties: {
    startIpAddress: '0.0.0.0'
    endIpAddress: '0.0.0.0'
  }
}

resource jobDatabase 'Microsoft.Sql/servers/databases@2023-08-01' = {
  // checkov:skip=CKV_AZURE_229: the default S1 (Standard) tier cannot be zone-redundant; point-in-time backups protect the job database, and the durable state lives in the scheduler.
  // checkov:skip=CKV_AZURE_26: the alert recipients belong to Defender for SQL threat detection (infra/.checkov.yaml, CKV_AZURE_25).
  // checkov:skip=CKV_AZURE_27: the alert recipients belong to Defender for SQL threat detection (infra/.checkov.yaml, CKV_AZURE_25).
  parent: sqlServer
  name: jobDatabaseName
  location: location
  tags: tags
  sku: databaseSkus[jobDatabaseSku]
  properties: {
    collation: 'SQL_Latin1_General_CP1_CI_AS'
    zoneRedundant: false
    requestedBackupStorageRedundancy: 'Local'
  }
}

resource masterDatabase 'Microsoft.Sql/servers/databases@2023-08-01' existing = {
  parent: sqlServer
  name: 'master'
}

resource auditToLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'sqlfleet-audit'
  scope: masterDatabase
  properties: {
    workspaceId: logs.id
    logs: [{ category: 'SQLSecurityAuditEvents', enabled: true }]
  }
}

// --- optional virtual network and private endpoints ----------------------------------------------

module network 'network.bicep' = if (vnetEnabled) {
  name: 'sqlfleet-network'
  params: {
    location: location
    tags: tags
    token: token
    storageId: storage.id
    vaultId: vault.id
    sqlServerId: sqlServer.id
  }
}

// --- the Function App ----------------------------------------------------------------------

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: Flex Consumption zone redundancy is not offered in every region; a lost instance's durable work is picked up by another (at-least-once delivery).
  name: 'plan-sqlfleet-${token}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_17: client certificates would lock out the sqlfleet CLI and the Durable HTTP API; callers present function keys over HTTPS instead.
  // checkov:skip=CKV_AZURE_222: the API is for the sqlfleet CLI on operators' machines; with vnetEnabled storage, Key Vault and SQL are private while the app keeps its HTTPS endpoint.
  // checkov:skip=CKV_AZURE_212: Flex Consumption adds instances on demand (scale from zero); a minimum instance count is a cost the operator can choose (always-ready instances).
  // checkov:skip=CKV_AZURE_213: Flex Consumption has no App Service health check; the platform replaces unhealthy instances itself.
  name: 'func-sqlfleet-${token}'
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identity.id}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identity.id
    virtualNetworkSubnetId: vnetEnabled ? network.outputs.appSubnetId : null
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainer}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        // Flex Consumption takes the worker runtime and version here, not as the
        // FUNCTIONS_WORKER_RUNTIME app setting (which it refuses).
        name: 'python'
        version: pythonVersion
      }
    }
  }

  resource settings 'config' = {
    // checkov:skip=CKV_AZURE_13: app settings, not site configuration: App Service authentication is not supported on Flex Consumption; the API checks function keys.
    // checkov:skip=CKV_AZURE_63: app settings, not site configuration: Flex Consumption has no App Service HTTP logs; requests go to Application Insights.
    // checkov:skip=CKV_AZURE_65: app settings, not site configuration: Flex Consumption has no App Service error pages; failures go to Application Insights.
    // checkov:skip=CKV_AZURE_66: app settings, not site configuration: Flex Consumption has no failed request tracing; Application Insights records requests.
    // checkov:skip=CKV_AZURE_80: app settings, not site configuration; a Python app has no .NET Framework version.
    // checkov:skip=CKV_AZURE_88: app settings, not site configuration: Flex Consumption deploys from a blob container (identity-based), not Azure Files.
    // checkov:skip=CKV_AZURE_222: app settings, not site configuration: the API stays reachable for the sqlfleet CLI; function keys guard it.
    name: 'appsettings'
    properties: {
      AzureWebJobsStorage__accountName: storage.name
      AzureWebJobsStorage__credential: 'managedidentity'
      AzureWebJobsStorage__clientId: identity.properties.clientId
      APPLICATIONINSIGHTS_CONNECTION_STRING: insights.properties.ConnectionString
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.properties.clientId};Authorization=AAD'
      DURABLE_TASK_SCHEDULER_CONNECTION_STRING: 'Endpoint=${scheduler.properties.endpoint};Authentication=ManagedIdentity;ClientID=${identity.properties.clientId}'
      TASKHUB_NAME: scheduler::hub.name
      AZURE_CLIENT_ID: identity.properties.clientId
      PYTHON_THREADPOOL_THREAD_COUNT: workerThreads
      SQLFLEET_JOB_DATABASE_URL: 'mssql+pyodbc://${identity.properties.clientId}@${sqlServer.properties.fullyQualifiedDomainName}/${jobDatabase.name}?driver=ODBC+Driver+18+for+SQL+Server&authentication=ActiveDirectoryMsi&Encrypt=yes'
      SQLFLEET_CREDENTIAL_KEY: '@Microsoft.KeyVault(SecretUri=${credentialKeySecret.properties.secretUri})'
      SQLFLEET_HISTORY_RETENTION_DAYS: string(historyRetentionDays)
      SQLFLEET_MAX_CONCURRENT_TARGETS: string(maxConcurrentTargets)
      // No SQLite files on Azure: no local script processes.
      SQLFLEET_LOCAL_SCRIPT_PROCESSES: '0'
    }
    dependsOn: [storageRoles, credentialKeyReader, schedulerWorker, insightsPublisher]
  }
}

// --- alert: failed target executions -----------------------------------------------------------

resource alertReceivers 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: 'ag-sqlfleet-${token}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'sqlfleet'
    enabled: true
    emailReceivers: [{ name: 'operator', emailAddress: alertEmail, useCommonAlertSchema: true }]
  }
}

resource failedTargetsAlert 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: 'alert-sqlfleet-failed-targets-${token}'
  location: location
  tags: tags
  properties: {
    displayName: 'SQL Fleet: failed target executions'
    description: 'A step ended with target executions Failed or TimedOut (the app logs one line per such step).'
    severity: 2
    enabled: true
    scopes: [insights.id]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: 'traces | where message startswith "${failedTargetsPrefix}" | extend failed = coalesce(toint(extract(@"(\\d+) Failed", 1, message)), 0) + coalesce(toint(extract(@"(\\d+) TimedOut", 1, message)), 0) | project timestamp, failed, message'
          timeAggregation: 'Total'
          metricMeasureColumn: 'failed'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
        }
      ]
    }
    autoMitigate: false
    actions: { actionGroups: empty(alertEmail) ? [] : [alertReceivers.id] }
  }
}

output functionAppName string = app.name
output appUrl string = 'https://${app.properties.defaultHostName}'
output monitoringUrl string = 'https://${app.properties.defaultHostName}/api/ui/'
output keyVaultName string = vault.name
output sqlServerFqdn string = sqlServer.properties.fullyQualifiedDomainName
output schedulerEndpoint string = scheduler.properties.endpoint
output identityClientId string = identity.properties.clientId
output identityName string = identity.name
