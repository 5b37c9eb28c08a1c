# State of staging/cluster: its own key, remote, encrypted, locked.
terraform {
  backend "gcs" {
    bucket = "shop-tfstate"
    prefix = "shop/staging/cluster"
  }
}
