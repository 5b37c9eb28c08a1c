provider "azurerm" {
  subscription_id = var.subscription_id

  features {}
}

module "naming" {
  source = "../../../modules/naming"

  project     = var.project
  environment = var.environment
  component   = "network"
}

module "network" {
  source = "../../../modules/vnet"

  name     = module.naming.prefix
  tags     = module.naming.tags
  location = var.location

  cidr = var.cidr
}
