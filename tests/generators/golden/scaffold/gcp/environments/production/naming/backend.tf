# State of production/naming: its own key, remote, encrypted, locked.
terraform {
  backend "gcs" {
    bucket = "shop-tfstate"
    prefix = "shop/production/naming"
  }
}
