project     = "shop"
environment = "staging"
