project             = "shop"
environment         = "staging"
project_id          = "shop-prod-4711"
region              = "europe-west1"
machine_type        = "e2-standard-4"
node_min            = 1
node_max            = 2
deletion_protection = false
