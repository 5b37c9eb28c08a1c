project             = "shop"
environment         = "production"
region              = "eu-west-1"
node_instance_types = ["m6i.large"]
node_min            = 3
node_max            = 10
