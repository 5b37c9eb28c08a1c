provider "azurerm" {
  subscription_id = var.subscription_id

  features {}
}

module "naming" {
  source = "../../../modules/naming"

  project     = var.project
  environment = var.environment
  component   = "cluster"
}

data "terraform_remote_state" "network" {
  backend = "azurerm"

  config = {
    resource_group_name  = "shop-tfstate"
    storage_account_name = "shoptfstate"
    container_name       = "tfstate"
    key                  = "shop/production/network.tfstate"
    use_azuread_auth     = true
  }
}

module "cluster" {
  source = "../../../modules/aks"

  name                = module.naming.name
  tags                = module.naming.tags
  location            = data.terraform_remote_state.network.outputs.location
  resource_group_name = data.terraform_remote_state.network.outputs.resource_group_name
  subnet_id           = data.terraform_remote_state.network.outputs.cluster_subnet_id

  vm_size  = var.vm_size
  node_min = var.node_min
  node_max = var.node_max
}
