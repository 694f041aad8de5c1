// The Azure side of dnsctl on AKS: a user-assigned managed identity, its federated credential for the
// cluster's service account (workload identity), and the two roles dnsctl needs:
//   - Private DNS Zone Contributor on the Private DNS zone whose record it steers;
//   - Storage Blob Data Contributor on the container that holds the leader lease (ha: azure-blob).
//
// Deploy it into the resource group that holds the zone and the storage account:
//   az deployment group create -g rg-private-dns -f deploy/azure/role-assignment.bicep \
//     -p aksOidcIssuerUrl="$(az aks show -g RG -n CLUSTER --query oidcIssuerProfile.issuerUrl -o tsv)" \
//        privateDnsZoneName=privatelink.azurecr.io storageAccountName=dnsctlleases
// then put the `clientId` output in deploy/kubernetes/serviceaccount.yaml.
// (Zone and storage account in different resource groups: deploy this file once per group, or move the
// matching resources into a module with `scope: resourceGroup(...)`.)

@description('Name of the user-assigned managed identity to create for dnsctl.')
param identityName string = 'id-dnsctl'

@description('Region of the managed identity.')
param location string = resourceGroup().location

@description('The AKS cluster\'s OIDC issuer URL (az aks show --query oidcIssuerProfile.issuerUrl).')
param aksOidcIssuerUrl string

@description('Kubernetes namespace of dnsctl\'s service account.')
param serviceAccountNamespace string = 'dnsctl'

@description('Name of dnsctl\'s Kubernetes service account.')
param serviceAccountName string = 'dnsctl'

@description('The existing Private DNS zone that holds the steered record (in this resource group).')
param privateDnsZoneName string = 'privatelink.azurecr.io'

@description('The existing storage account for the leader lease (in this resource group).')
param storageAccountName string

@description('Blob container for the lease, created here if missing (ha.blob_url: https://ACCOUNT.blob.core.windows.net/CONTAINER/leader).')
param leaseContainerName string = 'dnsctl'

// Built-in role definition ids (the same in every tenant).
var privateDnsZoneContributor = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'b12aa53e-6015-4669-85d0-8515ebb3ae7f')
var storageBlobDataContributor = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'ba92f5b4-2d11-453d-a403-e96b0029c9fe')

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: identityName
  location: location
}

resource federation 'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials@2023-01-31' = {
  parent: identity
  name: 'aks-${serviceAccountNamespace}-${serviceAccountName}'
  properties: {
    issuer: aksOidcIssuerUrl
    subject: 'system:serviceaccount:${serviceAccountNamespace}:${serviceAccountName}'
    audiences: [
      'api://AzureADTokenExchange'
    ]
  }
}

resource zone 'Microsoft.Network/privateDnsZones@2020-06-01' existing = {
  name: privateDnsZoneName
}

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: storageAccount
  name: 'default'
}

// Created here so the role can be scoped to it: dnsctl then needs no rights on the rest of the account.
resource leaseContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: leaseContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource dnsRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(zone.id, identity.id, privateDnsZoneContributor)
  scope: zone
  properties: {
    roleDefinitionId: privateDnsZoneContributor
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    description: 'dnsctl steers records in this Private DNS zone'
  }
}

resource leaseRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(leaseContainer.id, identity.id, storageBlobDataContributor)
  scope: leaseContainer
  properties: {
    roleDefinitionId: storageBlobDataContributor
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    description: 'dnsctl keeps its leader lease on a blob in this container'
  }
}

@description('Put this in the ServiceAccount annotation azure.workload.identity/client-id.')
output clientId string = identity.properties.clientId

output principalId string = identity.properties.principalId

output tenantId string = identity.properties.tenantId
