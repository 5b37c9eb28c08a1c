project               = "shop"
environment           = "staging"
region                = "eu-west-1"
instance_class        = "db.t4g.medium"
multi_az              = false
backup_retention_days = 3
deletion_protection   = false
