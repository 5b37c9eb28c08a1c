provider "azurerm" {
  subscription_id = var.subscription_id

  features {}
}

module "naming" {
  source = "../../../modules/naming"

  project     = var.project
  environment = var.environment
  component   = "database"
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

module "database" {
  source = "../../../modules/postgresql-flexible"

  name                = module.naming.name
  tags                = module.naming.tags
  location            = data.terraform_remote_state.network.outputs.location
  resource_group_name = data.terraform_remote_state.network.outputs.resource_group_name
  vnet_id             = data.terraform_remote_state.network.outputs.vnet_id
  subnet_id           = data.terraform_remote_state.network.outputs.database_subnet_id
  admin_password      = var.admin_password

  sku_name              = var.sku_name
  backup_retention_days = var.backup_retention_days
  geo_redundant_backup  = var.geo_redundant_backup
}
