# State of production/database: its own key, remote, encrypted, locked.
terraform {
  backend "gcs" {
    bucket = "shop-tfstate"
    prefix = "shop/production/database"
  }
}
