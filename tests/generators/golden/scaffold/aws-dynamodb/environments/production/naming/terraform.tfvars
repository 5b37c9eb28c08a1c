project     = "shop"
environment = "production"
