project               = "shop"
environment           = "production"
region                = "eu-west-1"
instance_class        = "db.r6g.large"
multi_az              = true
backup_retention_days = 14
deletion_protection   = true
