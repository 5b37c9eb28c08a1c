project             = "shop"
environment         = "production"
project_id          = "shop-prod-4711"
region              = "europe-west1"
tier                = "db-custom-2-7680"
high_availability   = true
deletion_protection = true
