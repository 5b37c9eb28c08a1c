project             = "shop"
environment         = "staging"
project_id          = "shop-prod-4711"
region              = "europe-west1"
tier                = "db-custom-1-3840"
high_availability   = false
deletion_protection = false
