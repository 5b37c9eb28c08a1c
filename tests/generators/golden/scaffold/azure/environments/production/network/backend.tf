# State of production/network: its own key, remote, encrypted, locked.
terraform {
  backend "azurerm" {
    resource_group_name  = "shop-tfstate"
    storage_account_name = "shoptfstate"
    container_name       = "tfstate"
    key                  = "shop/production/network.tfstate"
    use_azuread_auth     = true
  }
}
