"""``shipflow scaffold``: Terraform modules and per-environment, per-component roots.

Layout (under the output directory, ``infra/`` by default)::

    modules/naming/                 names and tags (no provider)
    modules/<vpc|vnet>/             network    ┐ main.tf, variables.tf,
    modules/<eks|gke|aks>/          cluster    │ outputs.tf, versions.tf
    modules/<rds|cloudsql|…>/       database   ┘
    environments/<env>/<component>/  one root each: main.tf, variables.tf, outputs.tf,
                                     versions.tf, backend.tf, terraform.tfvars
    README.md                       the layout, the state, the order of applies
    drift.prefect.yaml              a detect-drift deployment over exactly these roots

Every root keeps its state remotely, one state per environment per component (never local):
S3 with native lockfile locking (``use_lockfile = true``; a DynamoDB table only when asked
for, for Terraform older than 1.11), GCS, or an azurerm storage container; encrypted. Provider
versions are pinned with ``~>``. HCL is written by :mod:`shipflow.generators.hcl`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

import yaml

from shipflow.errors import ConfigError
from shipflow.generators import hcl
from shipflow.generators.hcl import Attr, Blank, Block, Comment, Expr, Item, attrs, block

Provider = Literal["aws", "gcp", "azure"]
PROVIDERS: tuple[Provider, ...] = ("aws", "gcp", "azure")
COMPONENTS = ("naming", "network", "cluster", "database")
NEEDS = {"cluster": ("network",), "database": ("network",)}
MODULE_DIR = {
    "aws": {"network": "vpc", "cluster": "eks", "database": "rds"},
    "gcp": {"network": "vpc", "cluster": "gke", "database": "cloudsql"},
    "azure": {"network": "vnet", "cluster": "aks", "database": "postgresql-flexible"},
}
PROVIDER_SOURCE = {
    "aws": ("aws", "hashicorp/aws", "~> 5.80"),
    "gcp": ("google", "hashicorp/google", "~> 6.12"),
    "azure": ("azurerm", "hashicorp/azurerm", "~> 4.12"),
}
# S3's native lockfile locking needs Terraform 1.11; GCS and azurerm lock natively.
TERRAFORM_VERSION = {"aws": ">= 1.11, < 2.0", "gcp": ">= 1.6, < 2.0", "azure": ">= 1.6, < 2.0"}
TERRAFORM_VERSION_DYNAMODB = ">= 1.6, < 2.0"
DEFAULT_REGION = {"aws": "eu-west-1", "gcp": "europe-west1", "azure": "westeurope"}
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")


@dataclass(frozen=True)
class ScaffoldSpec:
    """What to scaffold; :func:`validate_spec` says which field is wrong and why."""

    provider: Provider
    project: str
    environments: tuple[str, ...] = ("staging", "production")
    components: tuple[str, ...] = ("network", "cluster", "database")
    region: str | None = None
    state_bucket: str | None = None
    state_region: str | None = None
    dynamodb_table: str | None = None
    state_resource_group: str | None = None
    state_storage_account: str | None = None
    gcp_project: str | None = None
    prefix: str = "infra"

    @property
    def all_components(self) -> tuple[str, ...]:
        return tuple(c for c in COMPONENTS if c == "naming" or c in self.components)

    def roots(self) -> list[str]:
        """The root directories, relative to the output directory."""
        return [f"environments/{env}/{c}" for env in self.environments for c in self.all_components]


def validate_spec(spec: ScaffoldSpec) -> None:
    """Raise ConfigError naming the field when the spec cannot be scaffolded."""
    if spec.provider not in PROVIDERS:
        raise ConfigError("provider", f"{spec.provider!r} is not one of {', '.join(PROVIDERS)}")
    if not _NAME.match(spec.project):
        raise ConfigError("project", f"{spec.project!r}: lower-case letters, digits and dashes")
    if not spec.environments or len(set(spec.environments)) != len(spec.environments):
        raise ConfigError("env", "name one or more distinct environments")
    for env in spec.environments:
        if not _NAME.match(env):
            raise ConfigError("env", f"{env!r}: lower-case letters, digits and dashes")
    unknown = sorted(set(spec.components) - set(COMPONENTS))
    if unknown:
        raise ConfigError(
            "modules", f"{', '.join(unknown)} unknown; choose from {', '.join(COMPONENTS)}"
        )
    for component in spec.components:
        missing = [n for n in NEEDS.get(component, ()) if n not in spec.components]
        if missing:
            raise ConfigError("modules", f"{component} needs {', '.join(missing)}")
    if spec.dynamodb_table and spec.provider != "aws":
        raise ConfigError("dynamodb-table", "only the aws provider keeps state in S3")


def render_scaffold(spec: ScaffoldSpec) -> dict[Path, str]:
    """Every file of the scaffold, relative to the output directory."""
    validate_spec(spec)
    files: dict[Path, str] = {}
    files.update(_naming_module())
    for component in spec.components:
        files.update(_module(spec, component))
    for env in spec.environments:
        for component in spec.all_components:
            files.update(_root(spec, env, component))
    files[Path("README.md")] = _readme(spec)
    files[Path("drift.prefect.yaml")] = _drift_deployment(spec)
    return dict(sorted(files.items()))


# ---------------------------------------------------------------------------------------
# Pieces every file uses


def _v(name: str) -> Expr:
    return Expr(f"var.{name}")


def _variable(
    name: str,
    type_: str,
    description: str,
    default: hcl.Value = None,
    *,
    sensitive: bool = False,
    required: bool = False,
    validation: tuple[str, str] | None = None,
) -> Block:
    body: list[Item] = [
        Attr("description", description),
        Attr("type", Expr(type_)),
    ]
    if not required:
        body.append(Attr("default", default))
    if sensitive:
        body.append(Attr("sensitive", True))
    if validation:
        body.append(
            block(
                "validation",
                body=attrs(condition=Expr(validation[0]), error_message=validation[1]),
            )
        )
    return block("variable", name, body=body)


def _output(name: str, value: str, description: str, sensitive: bool = False) -> Block:
    body: list[Item] = [Attr("description", description), Attr("value", Expr(value))]
    if sensitive:
        body.append(Attr("sensitive", True))
    return block("output", name, body=body)


def _versions(spec: ScaffoldSpec | None, provider: str | None, root: bool = False) -> str:
    required: list[Item] = []
    if provider:
        local, source, version = PROVIDER_SOURCE[provider]
        required = [Attr(local, {"source": source, "version": version})]
    if spec is not None and root:
        constraint = (
            TERRAFORM_VERSION_DYNAMODB if spec.dynamodb_table else TERRAFORM_VERSION[spec.provider]
        )
    else:
        constraint = ">= 1.6, < 2.0"
    body: list[Item] = [Attr("required_version", constraint)]
    if required:
        body.append(block("required_providers", body=required))
    return hcl.render([block("terraform", body=body)])


def _name_tags_variables(what: str) -> list[Item]:
    return [
        _variable(
            "name", "string", f"Name of the {what} and prefix of what it creates.", required=True
        ),
        _variable("tags", "map(string)", "Tags (labels) set on everything.", {}),
    ]


# ---------------------------------------------------------------------------------------
# modules/naming: no provider at all (so a scaffold of it alone validates offline)


def _naming_module() -> dict[Path, str]:
    base = Path("modules/naming")
    name_rule = (
        'can(regex("^[a-z][a-z0-9-]*$", var.{0}))',
        "Lower-case letters, digits and dashes, starting with a letter.",
    )
    variables = [
        _variable(
            "project",
            "string",
            "The project, first part of every name.",
            required=True,
            validation=(name_rule[0].format("project"), name_rule[1]),
        ),
        _variable(
            "environment",
            "string",
            "The environment (staging, production, …).",
            required=True,
            validation=(name_rule[0].format("environment"), name_rule[1]),
        ),
        _variable(
            "component",
            "string",
            "The component (network, cluster, database).",
            required=True,
            validation=(name_rule[0].format("component"), name_rule[1]),
        ),
        _variable("extra_tags", "map(string)", "More tags, merged over the standard ones.", {}),
    ]
    main = [
        block(
            "locals",
            body=[
                Attr("prefix", Expr('"${var.project}-${var.environment}"')),
                Attr(
                    "tags",
                    Expr(
                        "merge({\n"
                        "    project     = var.project\n"
                        "    environment = var.environment\n"
                        "    component   = var.component\n"
                        '    managed-by  = "terraform"\n'
                        "  }, var.extra_tags)"
                    ),
                ),
            ],
        )
    ]
    outputs = [
        _output("prefix", "local.prefix", "<project>-<environment>: the prefix of every name."),
        _output("name", '"${local.prefix}-${var.component}"', "The component's own name."),
        _output("tags", "local.tags", "Standard tags: project, environment, component."),
    ]
    return {
        base / "main.tf": hcl.render(main),
        base / "variables.tf": hcl.render(variables),
        base / "outputs.tf": hcl.render(outputs),
        base / "versions.tf": _versions(None, None),
    }


# ---------------------------------------------------------------------------------------
# Cloud modules


def _module(spec: ScaffoldSpec, component: str) -> dict[Path, str]:
    builder = {
        ("aws", "network"): _aws_vpc,
        ("aws", "cluster"): _aws_eks,
        ("aws", "database"): _aws_rds,
        ("gcp", "network"): _gcp_vpc,
        ("gcp", "cluster"): _gcp_gke,
        ("gcp", "database"): _gcp_cloudsql,
        ("azure", "network"): _azure_vnet,
        ("azure", "cluster"): _azure_aks,
        ("azure", "database"): _azure_postgres,
    }[(spec.provider, component)]
    main, variables, outputs = builder()
    base = Path("modules") / MODULE_DIR[spec.provider][component]
    return {
        base / "main.tf": hcl.render(main),
        base / "variables.tf": hcl.render(variables),
        base / "outputs.tf": hcl.render(outputs),
        base / "versions.tf": _versions(None, spec.provider),
    }


Module = tuple[list[Item], list[Item], list[Item]]


_AZ_NAME = '"${{var.name}}-{kind}-${{local.azs[count.index]}}"'


def _aws_vpc() -> Module:
    sub = "count.index"
    main: list[Item] = [
        block("data", "aws_availability_zones", "available", body=attrs(state="available")),
        block(
            "locals",
            body=attrs(
                azs=Expr("slice(data.aws_availability_zones.available.names, 0, var.az_count)")
            ),
        ),
        block(
            "resource",
            "aws_vpc",
            "this",
            body=attrs(
                cidr_block=_v("cidr"),
                enable_dns_support=True,
                enable_dns_hostnames=True,
                tags=Expr("merge(var.tags, { Name = var.name })"),
            ),
        ),
        block(
            "resource",
            "aws_subnet",
            "private",
            body=attrs(
                count=Expr("length(local.azs)"),
                vpc_id=Expr("aws_vpc.this.id"),
                cidr_block=Expr(f"cidrsubnet(var.cidr, 4, {sub})"),
                availability_zone=Expr(f"local.azs[{sub}]"),
                tags=Expr(
                    "merge(var.tags, {\n"
                    f"    Name                              = {_AZ_NAME.format(kind='private')}\n"
                    '    "kubernetes.io/role/internal-elb" = "1"\n'
                    "  })"
                ),
            ),
        ),
        block(
            "resource",
            "aws_subnet",
            "public",
            body=attrs(
                count=Expr("length(local.azs)"),
                vpc_id=Expr("aws_vpc.this.id"),
                cidr_block=Expr(f"cidrsubnet(var.cidr, 4, {sub} + 8)"),
                availability_zone=Expr(f"local.azs[{sub}]"),
                map_public_ip_on_launch=False,
                tags=Expr(
                    "merge(var.tags, {\n"
                    f"    Name                     = {_AZ_NAME.format(kind='public')}\n"
                    '    "kubernetes.io/role/elb" = "1"\n'
                    "  })"
                ),
            ),
        ),
        block(
            "resource",
            "aws_internet_gateway",
            "this",
            body=attrs(vpc_id=Expr("aws_vpc.this.id"), tags=_v("tags")),
        ),
        block("resource", "aws_eip", "nat", body=attrs(domain="vpc", tags=_v("tags"))),
        block(
            "resource",
            "aws_nat_gateway",
            "this",
            body=[
                *attrs(
                    allocation_id=Expr("aws_eip.nat.id"),
                    subnet_id=Expr("aws_subnet.public[0].id"),
                    tags=_v("tags"),
                ),
                Blank(),
                Attr("depends_on", [Expr("aws_internet_gateway.this")]),
            ],
        ),
        block(
            "resource",
            "aws_route_table",
            "public",
            body=[
                Attr("vpc_id", Expr("aws_vpc.this.id")),
                Attr("tags", _v("tags")),
                Blank(),
                block(
                    "route",
                    body=attrs(
                        cidr_block="0.0.0.0/0", gateway_id=Expr("aws_internet_gateway.this.id")
                    ),
                ),
            ],
        ),
        block(
            "resource",
            "aws_route_table",
            "private",
            body=[
                Attr("vpc_id", Expr("aws_vpc.this.id")),
                Attr("tags", _v("tags")),
                Blank(),
                block(
                    "route",
                    body=attrs(
                        cidr_block="0.0.0.0/0", nat_gateway_id=Expr("aws_nat_gateway.this.id")
                    ),
                ),
            ],
        ),
    ]
    for kind in ("public", "private"):
        main.append(
            block(
                "resource",
                "aws_route_table_association",
                kind,
                body=attrs(
                    count=Expr(f"length(aws_subnet.{kind})"),
                    subnet_id=Expr(f"aws_subnet.{kind}[count.index].id"),
                    route_table_id=Expr(f"aws_route_table.{kind}.id"),
                ),
            )
        )
    variables: list[Item] = [
        *_name_tags_variables("VPC"),
        _variable(
            "cidr",
            "string",
            "The VPC's address range.",
            "10.0.0.0/16",
            validation=("can(cidrnetmask(var.cidr))", "A CIDR block, e.g. 10.0.0.0/16."),
        ),
        _variable("az_count", "number", "Availability zones to spread subnets over.", 3),
    ]
    outputs: list[Item] = [
        _output("vpc_id", "aws_vpc.this.id", "The VPC."),
        _output("cidr", "aws_vpc.this.cidr_block", "The VPC's address range."),
        _output("private_subnet_ids", "aws_subnet.private[*].id", "Private subnets, one per AZ."),
        _output("public_subnet_ids", "aws_subnet.public[*].id", "Public subnets, one per AZ."),
    ]
    return main, variables, outputs


def _assume(name: str, service: str) -> Block:
    return block(
        "data",
        "aws_iam_policy_document",
        name,
        body=[
            block(
                "statement",
                body=[
                    Attr("actions", ["sts:AssumeRole"]),
                    Blank(),
                    block("principals", body=attrs(type="Service", identifiers=[service])),
                ],
            ),
        ],
    )


def _aws_eks() -> Module:
    node_policies = [
        "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
        "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
        "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
    ]
    main: list[Item] = [
        _assume("cluster", "eks.amazonaws.com"),
        block(
            "resource",
            "aws_iam_role",
            "cluster",
            body=attrs(
                name=Expr('"${var.name}-cluster"'),
                assume_role_policy=Expr("data.aws_iam_policy_document.cluster.json"),
                tags=_v("tags"),
            ),
        ),
        block(
            "resource",
            "aws_iam_role_policy_attachment",
            "cluster",
            body=attrs(
                role=Expr("aws_iam_role.cluster.name"),
                policy_arn="arn:aws:iam::aws:policy/AmazonEKSClusterPolicy",
            ),
        ),
        Comment("Kubernetes secrets are encrypted with a key of this cluster's own."),
        block(
            "resource",
            "aws_kms_key",
            "secrets",
            body=attrs(
                description=Expr('"${var.name}: EKS secrets"'),
                enable_key_rotation=True,
                deletion_window_in_days=30,
                tags=_v("tags"),
            ),
        ),
        block(
            "resource",
            "aws_eks_cluster",
            "this",
            body=[
                *attrs(
                    name=_v("name"),
                    role_arn=Expr("aws_iam_role.cluster.arn"),
                    version=_v("kubernetes_version"),
                    enabled_cluster_log_types=["api", "audit", "authenticator"],
                    tags=_v("tags"),
                ),
                Blank(),
                block(
                    "vpc_config",
                    body=attrs(
                        subnet_ids=_v("subnet_ids"),
                        endpoint_private_access=True,
                        endpoint_public_access=_v("public_endpoint"),
                        public_access_cidrs=_v("public_access_cidrs"),
                    ),
                ),
                Blank(),
                block(
                    "encryption_config",
                    body=[
                        Attr("resources", ["secrets"]),
                        Blank(),
                        block("provider", body=attrs(key_arn=Expr("aws_kms_key.secrets.arn"))),
                    ],
                ),
                Blank(),
                Attr("depends_on", [Expr("aws_iam_role_policy_attachment.cluster")]),
            ],
        ),
        _assume("nodes", "ec2.amazonaws.com"),
        block(
            "resource",
            "aws_iam_role",
            "nodes",
            body=attrs(
                name=Expr('"${var.name}-nodes"'),
                assume_role_policy=Expr("data.aws_iam_policy_document.nodes.json"),
                tags=_v("tags"),
            ),
        ),
        block(
            "resource",
            "aws_iam_role_policy_attachment",
            "nodes",
            body=attrs(
                for_each_=Expr("toset(local.node_policies)"),
                role=Expr("aws_iam_role.nodes.name"),
                policy_arn=Expr("each.value"),
            ),
        ),
        block("locals", body=[Attr("node_policies", node_policies)]),
        block(
            "resource",
            "aws_eks_node_group",
            "default",
            body=[
                *attrs(
                    cluster_name=Expr("aws_eks_cluster.this.name"),
                    node_group_name="default",
                    node_role_arn=Expr("aws_iam_role.nodes.arn"),
                    subnet_ids=_v("subnet_ids"),
                    instance_types=_v("node_instance_types"),
                    tags=_v("tags"),
                ),
                Blank(),
                block(
                    "scaling_config",
                    body=attrs(
                        desired_size=_v("node_min"),
                        min_size=_v("node_min"),
                        max_size=_v("node_max"),
                    ),
                ),
                Blank(),
                block("update_config", body=attrs(max_unavailable=1)),
                Blank(),
                Attr("depends_on", [Expr("aws_iam_role_policy_attachment.nodes")]),
            ],
        ),
    ]
    variables: list[Item] = [
        *_name_tags_variables("cluster"),
        _variable(
            "subnet_ids",
            "list(string)",
            "Private subnets for the control plane ENIs and nodes.",
            required=True,
        ),
        _variable("kubernetes_version", "string", "EKS Kubernetes version.", "1.31"),
        _variable(
            "public_endpoint",
            "bool",
            "Whether the API server is reachable from the internet.",
            False,
        ),
        _variable(
            "public_access_cidrs",
            "list(string)",
            "Who may reach a public API endpoint.",
            ["0.0.0.0/0"],
        ),
        _variable(
            "node_instance_types",
            "list(string)",
            "Instance types of the default node group.",
            ["m6i.large"],
        ),
        _variable("node_min", "number", "Fewest nodes.", 2),
        _variable("node_max", "number", "Most nodes.", 5),
    ]
    outputs: list[Item] = [
        _output("cluster_name", "aws_eks_cluster.this.name", "The cluster."),
        _output("endpoint", "aws_eks_cluster.this.endpoint", "The API server."),
        _output(
            "certificate_authority",
            "aws_eks_cluster.this.certificate_authority[0].data",
            "The cluster CA (base64).",
        ),
        _output(
            "cluster_security_group_id",
            "aws_eks_cluster.this.vpc_config[0].cluster_security_group_id",
            "Security group of the control plane and nodes.",
        ),
    ]
    return main, variables, outputs


def _aws_rds() -> Module:
    main: list[Item] = [
        block(
            "resource",
            "aws_db_subnet_group",
            "this",
            body=attrs(
                name=_v("name"),
                subnet_ids=_v("subnet_ids"),
                tags=_v("tags"),
            ),
        ),
        block(
            "resource",
            "aws_security_group",
            "this",
            body=[
                *attrs(
                    name=Expr('"${var.name}-db"'),
                    description="PostgreSQL from inside the VPC only",
                    vpc_id=_v("vpc_id"),
                    tags=_v("tags"),
                ),
                Blank(),
                block(
                    "ingress",
                    body=attrs(
                        description="PostgreSQL",
                        from_port=5432,
                        to_port=5432,
                        protocol="tcp",
                        cidr_blocks=_v("allowed_cidrs"),
                    ),
                ),
            ],
        ),
        block(
            "resource",
            "aws_db_instance",
            "this",
            body=attrs(
                identifier=_v("name"),
                engine="postgres",
                engine_version=_v("engine_version"),
                instance_class=_v("instance_class"),
                allocated_storage=_v("allocated_storage"),
                max_allocated_storage=_v("max_allocated_storage"),
                storage_type="gp3",
                storage_encrypted=True,
                db_name=_v("database_name"),
                username=_v("username"),
                manage_master_user_password=True,
                db_subnet_group_name=Expr("aws_db_subnet_group.this.name"),
                vpc_security_group_ids=[Expr("aws_security_group.this.id")],
                publicly_accessible=False,
                multi_az=_v("multi_az"),
                backup_retention_period=_v("backup_retention_days"),
                deletion_protection=_v("deletion_protection"),
                skip_final_snapshot=False,
                final_snapshot_identifier=Expr('"${var.name}-final"'),
                copy_tags_to_snapshot=True,
                auto_minor_version_upgrade=True,
                tags=_v("tags"),
            ),
        ),
    ]
    variables: list[Item] = [
        *_name_tags_variables("database"),
        _variable("vpc_id", "string", "The VPC.", required=True),
        _variable("subnet_ids", "list(string)", "Private subnets for the database.", required=True),
        _variable(
            "allowed_cidrs", "list(string)", "Who may connect (the VPC's range).", required=True
        ),
        _variable("engine_version", "string", "PostgreSQL version.", "16"),
        _variable("instance_class", "string", "Instance class.", "db.t4g.medium"),
        _variable("allocated_storage", "number", "Storage (GiB) at creation.", 20),
        _variable("max_allocated_storage", "number", "Storage autoscaling ceiling (GiB).", 100),
        _variable("database_name", "string", "The database created with the instance.", "app"),
        _variable(
            "username",
            "string",
            "Master user (its password lives in Secrets Manager).",
            "app_admin",
        ),
        _variable("multi_az", "bool", "A standby in a second AZ.", False),
        _variable("backup_retention_days", "number", "Days of automated backups.", 7),
        _variable("deletion_protection", "bool", "Refuse to delete the instance.", True),
    ]
    outputs: list[Item] = [
        _output("address", "aws_db_instance.this.address", "Host name to connect to."),
        _output("port", "aws_db_instance.this.port", "Port."),
        _output(
            "master_user_secret_arn",
            "aws_db_instance.this.master_user_secret[0].secret_arn",
            "Secrets Manager secret holding the master password.",
        ),
    ]
    return main, variables, outputs


def _gcp_vpc() -> Module:
    main: list[Item] = [
        block(
            "resource",
            "google_compute_network",
            "this",
            body=attrs(
                name=_v("name"),
                auto_create_subnetworks=False,
                routing_mode="REGIONAL",
            ),
        ),
        block(
            "resource",
            "google_compute_subnetwork",
            "this",
            body=[
                *attrs(
                    name=_v("name"),
                    region=_v("region"),
                    network=Expr("google_compute_network.this.id"),
                    ip_cidr_range=_v("cidr"),
                    private_ip_google_access=True,
                ),
                Blank(),
                block(
                    "secondary_ip_range",
                    body=attrs(range_name="pods", ip_cidr_range=_v("pods_cidr")),
                ),
                Blank(),
                block(
                    "secondary_ip_range",
                    body=attrs(range_name="services", ip_cidr_range=_v("services_cidr")),
                ),
                Blank(),
                block(
                    "log_config",
                    body=attrs(
                        aggregation_interval="INTERVAL_5_SEC",
                        flow_sampling=0.5,
                        metadata="INCLUDE_ALL_METADATA",
                    ),
                ),
            ],
        ),
        block(
            "resource",
            "google_compute_router",
            "this",
            body=attrs(
                name=_v("name"),
                region=_v("region"),
                network=Expr("google_compute_network.this.id"),
            ),
        ),
        block(
            "resource",
            "google_compute_router_nat",
            "this",
            body=[
                *attrs(
                    name=_v("name"),
                    router=Expr("google_compute_router.this.name"),
                    region=_v("region"),
                    nat_ip_allocate_option="AUTO_ONLY",
                    source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
                ),
                Blank(),
                block("log_config", body=attrs(enable=True, filter="ERRORS_ONLY")),
            ],
        ),
        Comment("Private services access: Cloud SQL gets a private address in this network."),
        block(
            "resource",
            "google_compute_global_address",
            "private_services",
            body=attrs(
                name=Expr('"${var.name}-private-services"'),
                purpose="VPC_PEERING",
                address_type="INTERNAL",
                prefix_length=16,
                network=Expr("google_compute_network.this.id"),
            ),
        ),
        block(
            "resource",
            "google_service_networking_connection",
            "private_services",
            body=attrs(
                network=Expr("google_compute_network.this.id"),
                service="servicenetworking.googleapis.com",
                reserved_peering_ranges=[
                    Expr("google_compute_global_address.private_services.name")
                ],
            ),
        ),
    ]
    variables: list[Item] = [
        _variable(
            "name", "string", "Name of the network and prefix of what it creates.", required=True
        ),
        _variable("region", "string", "Region of the subnetwork.", required=True),
        _variable("cidr", "string", "Primary range of the subnetwork (nodes).", "10.10.0.0/20"),
        _variable("pods_cidr", "string", "Secondary range for pods.", "10.16.0.0/14"),
        _variable("services_cidr", "string", "Secondary range for services.", "10.20.0.0/20"),
    ]
    outputs: list[Item] = [
        _output("network_id", "google_compute_network.this.id", "The VPC network."),
        _output("subnetwork_id", "google_compute_subnetwork.this.id", "The subnetwork."),
        _output(
            "pods_range_name",
            "google_compute_subnetwork.this.secondary_ip_range[0].range_name",
            "Secondary range for pods.",
        ),
        _output(
            "services_range_name",
            "google_compute_subnetwork.this.secondary_ip_range[1].range_name",
            "Secondary range for services.",
        ),
        _output(
            "private_services_connection",
            "google_service_networking_connection.private_services.id",
            "Private services access (Cloud SQL private IP).",
        ),
    ]
    return main, variables, outputs


def _gcp_gke() -> Module:
    main: list[Item] = [
        block(
            "resource",
            "google_container_cluster",
            "this",
            body=[
                *attrs(
                    name=_v("name"),
                    location=_v("region"),
                    network=_v("network_id"),
                    subnetwork=_v("subnetwork_id"),
                    remove_default_node_pool=True,
                    initial_node_count=1,
                    deletion_protection=_v("deletion_protection"),
                    resource_labels=_v("labels"),
                ),
                Blank(),
                block("release_channel", body=attrs(channel=_v("release_channel"))),
                Blank(),
                block(
                    "ip_allocation_policy",
                    body=attrs(
                        cluster_secondary_range_name=_v("pods_range_name"),
                        services_secondary_range_name=_v("services_range_name"),
                    ),
                ),
                Blank(),
                block(
                    "private_cluster_config",
                    body=attrs(
                        enable_private_nodes=True,
                        enable_private_endpoint=False,
                        master_ipv4_cidr_block=_v("master_cidr"),
                    ),
                ),
                Blank(),
                block(
                    "workload_identity_config",
                    body=attrs(workload_pool=Expr('"${var.project_id}.svc.id.goog"')),
                ),
            ],
        ),
        block(
            "resource",
            "google_container_node_pool",
            "default",
            body=[
                *attrs(
                    name="default",
                    cluster=Expr("google_container_cluster.this.id"),
                    location=_v("region"),
                ),
                Blank(),
                block(
                    "autoscaling",
                    body=attrs(min_node_count=_v("node_min"), max_node_count=_v("node_max")),
                ),
                Blank(),
                block("management", body=attrs(auto_repair=True, auto_upgrade=True)),
                Blank(),
                block(
                    "node_config",
                    body=[
                        *attrs(
                            machine_type=_v("machine_type"),
                            oauth_scopes=["https://www.googleapis.com/auth/cloud-platform"],
                            labels=_v("labels"),
                        ),
                        Blank(),
                        block("workload_metadata_config", body=attrs(mode="GKE_METADATA")),
                        Blank(),
                        block(
                            "shielded_instance_config",
                            body=attrs(enable_secure_boot=True, enable_integrity_monitoring=True),
                        ),
                    ],
                ),
            ],
        ),
    ]
    variables: list[Item] = [
        _variable("name", "string", "Name of the cluster.", required=True),
        _variable("project_id", "string", "The Google Cloud project.", required=True),
        _variable("region", "string", "Region (a regional cluster).", required=True),
        _variable("network_id", "string", "The VPC network.", required=True),
        _variable("subnetwork_id", "string", "The subnetwork.", required=True),
        _variable("pods_range_name", "string", "Secondary range for pods.", required=True),
        _variable("services_range_name", "string", "Secondary range for services.", required=True),
        _variable("master_cidr", "string", "A /28 for the control plane.", "172.16.0.0/28"),
        _variable("release_channel", "string", "GKE release channel.", "REGULAR"),
        _variable("machine_type", "string", "Node machine type.", "e2-standard-4"),
        _variable("node_min", "number", "Fewest nodes per zone.", 1),
        _variable("node_max", "number", "Most nodes per zone.", 3),
        _variable("deletion_protection", "bool", "Refuse to delete the cluster.", True),
        _variable("labels", "map(string)", "Labels set on the cluster and its nodes.", {}),
    ]
    outputs: list[Item] = [
        _output("cluster_name", "google_container_cluster.this.name", "The cluster."),
        _output("endpoint", "google_container_cluster.this.endpoint", "The API server."),
        _output(
            "ca_certificate",
            "google_container_cluster.this.master_auth[0].cluster_ca_certificate",
            "The cluster CA (base64).",
        ),
    ]
    return main, variables, outputs


def _gcp_cloudsql() -> Module:
    main: list[Item] = [
        block(
            "resource",
            "google_sql_database_instance",
            "this",
            body=[
                *attrs(
                    name=_v("name"),
                    database_version=_v("database_version"),
                    region=_v("region"),
                    deletion_protection=_v("deletion_protection"),
                ),
                Blank(),
                block(
                    "settings",
                    body=[
                        *attrs(
                            tier=_v("tier"),
                            availability_type=Expr('var.high_availability ? "REGIONAL" : "ZONAL"'),
                            disk_autoresize=True,
                            user_labels=_v("labels"),
                        ),
                        Blank(),
                        block(
                            "ip_configuration",
                            body=attrs(
                                ipv4_enabled=False,
                                private_network=_v("network_id"),
                                ssl_mode="ENCRYPTED_ONLY",
                            ),
                        ),
                        Blank(),
                        block(
                            "backup_configuration",
                            body=attrs(enabled=True, point_in_time_recovery_enabled=True),
                        ),
                        Blank(),
                        block(
                            "database_flags",
                            body=attrs(name="cloudsql.iam_authentication", value="on"),
                        ),
                    ],
                ),
            ],
        ),
        block(
            "resource",
            "google_sql_database",
            "this",
            body=attrs(
                name=_v("database_name"),
                instance=Expr("google_sql_database_instance.this.name"),
            ),
        ),
    ]
    variables: list[Item] = [
        _variable("name", "string", "Name of the instance.", required=True),
        _variable("region", "string", "Region.", required=True),
        _variable(
            "network_id", "string", "VPC network with private services access.", required=True
        ),
        _variable("database_version", "string", "Cloud SQL engine version.", "POSTGRES_16"),
        _variable("tier", "string", "Machine tier.", "db-custom-2-7680"),
        _variable("high_availability", "bool", "A standby in a second zone.", False),
        _variable("database_name", "string", "The database to create.", "app"),
        _variable("deletion_protection", "bool", "Refuse to delete the instance.", True),
        _variable("labels", "map(string)", "Labels.", {}),
    ]
    outputs: list[Item] = [
        _output(
            "connection_name",
            "google_sql_database_instance.this.connection_name",
            "For the Cloud SQL Auth Proxy.",
        ),
        _output(
            "private_ip", "google_sql_database_instance.this.private_ip_address", "Private address."
        ),
    ]
    return main, variables, outputs


def _azure_vnet() -> Module:
    main: list[Item] = [
        block(
            "resource",
            "azurerm_resource_group",
            "this",
            body=attrs(
                name=Expr('"${var.name}-rg"'),
                location=_v("location"),
                tags=_v("tags"),
            ),
        ),
        block(
            "resource",
            "azurerm_virtual_network",
            "this",
            body=attrs(
                name=_v("name"),
                location=Expr("azurerm_resource_group.this.location"),
                resource_group_name=Expr("azurerm_resource_group.this.name"),
                address_space=[_v("cidr")],
                tags=_v("tags"),
            ),
        ),
        block(
            "resource",
            "azurerm_subnet",
            "cluster",
            body=attrs(
                name="cluster",
                resource_group_name=Expr("azurerm_resource_group.this.name"),
                virtual_network_name=Expr("azurerm_virtual_network.this.name"),
                address_prefixes=[Expr("cidrsubnet(var.cidr, 4, 0)")],
            ),
        ),
        block(
            "resource",
            "azurerm_subnet",
            "database",
            body=[
                *attrs(
                    name="database",
                    resource_group_name=Expr("azurerm_resource_group.this.name"),
                    virtual_network_name=Expr("azurerm_virtual_network.this.name"),
                    address_prefixes=[Expr("cidrsubnet(var.cidr, 8, 16)")],
                ),
                Blank(),
                block(
                    "delegation",
                    body=[
                        Attr("name", "postgresql-flexible"),
                        Blank(),
                        block(
                            "service_delegation",
                            body=attrs(
                                name="Microsoft.DBforPostgreSQL/flexibleServers",
                                actions=["Microsoft.Network/virtualNetworks/subnets/join/action"],
                            ),
                        ),
                    ],
                ),
            ],
        ),
    ]
    variables: list[Item] = [
        *_name_tags_variables("virtual network"),
        _variable("location", "string", "Azure region.", required=True),
        _variable("cidr", "string", "The virtual network's address space.", "10.30.0.0/16"),
    ]
    outputs: list[Item] = [
        _output("resource_group_name", "azurerm_resource_group.this.name", "The resource group."),
        _output("location", "azurerm_resource_group.this.location", "The region."),
        _output("vnet_id", "azurerm_virtual_network.this.id", "The virtual network."),
        _output("cluster_subnet_id", "azurerm_subnet.cluster.id", "Subnet for AKS nodes."),
        _output(
            "database_subnet_id",
            "azurerm_subnet.database.id",
            "Subnet delegated to PostgreSQL flexible servers.",
        ),
    ]
    return main, variables, outputs


def _azure_aks() -> Module:
    main: list[Item] = [
        block(
            "resource",
            "azurerm_kubernetes_cluster",
            "this",
            body=[
                *attrs(
                    name=_v("name"),
                    location=_v("location"),
                    resource_group_name=_v("resource_group_name"),
                    dns_prefix=_v("name"),
                    kubernetes_version=_v("kubernetes_version"),
                    oidc_issuer_enabled=True,
                    workload_identity_enabled=True,
                    role_based_access_control_enabled=True,
                    azure_policy_enabled=True,
                    tags=_v("tags"),
                ),
                Blank(),
                block(
                    "default_node_pool",
                    body=attrs(
                        name="system",
                        vm_size=_v("vm_size"),
                        vnet_subnet_id=_v("subnet_id"),
                        auto_scaling_enabled=True,
                        min_count=_v("node_min"),
                        max_count=_v("node_max"),
                        only_critical_addons_enabled=False,
                    ),
                ),
                Blank(),
                block("identity", body=attrs(type="SystemAssigned")),
                Blank(),
                block(
                    "network_profile", body=attrs(network_plugin="azure", network_policy="azure")
                ),
            ],
        ),
    ]
    variables: list[Item] = [
        *_name_tags_variables("cluster"),
        _variable("location", "string", "Azure region.", required=True),
        _variable("resource_group_name", "string", "Resource group.", required=True),
        _variable("subnet_id", "string", "Subnet for the nodes.", required=True),
        _variable("kubernetes_version", "string", "AKS Kubernetes version.", "1.31"),
        _variable("vm_size", "string", "Node size.", "Standard_D4s_v5"),
        _variable("node_min", "number", "Fewest nodes.", 2),
        _variable("node_max", "number", "Most nodes.", 5),
    ]
    outputs: list[Item] = [
        _output("cluster_name", "azurerm_kubernetes_cluster.this.name", "The cluster."),
        _output(
            "oidc_issuer_url",
            "azurerm_kubernetes_cluster.this.oidc_issuer_url",
            "For workload identity federation.",
        ),
        _output(
            "kube_config",
            "azurerm_kubernetes_cluster.this.kube_config_raw",
            "Admin kubeconfig.",
            sensitive=True,
        ),
    ]
    return main, variables, outputs


def _azure_postgres() -> Module:
    main: list[Item] = [
        block(
            "resource",
            "azurerm_private_dns_zone",
            "this",
            body=attrs(
                name=Expr('"${var.name}.private.postgres.database.azure.com"'),
                resource_group_name=_v("resource_group_name"),
                tags=_v("tags"),
            ),
        ),
        block(
            "resource",
            "azurerm_private_dns_zone_virtual_network_link",
            "this",
            body=attrs(
                name=_v("name"),
                private_dns_zone_name=Expr("azurerm_private_dns_zone.this.name"),
                virtual_network_id=_v("vnet_id"),
                resource_group_name=_v("resource_group_name"),
            ),
        ),
        block(
            "resource",
            "azurerm_postgresql_flexible_server",
            "this",
            body=[
                *attrs(
                    name=_v("name"),
                    resource_group_name=_v("resource_group_name"),
                    location=_v("location"),
                    version=_v("postgres_version"),
                    delegated_subnet_id=_v("subnet_id"),
                    private_dns_zone_id=Expr("azurerm_private_dns_zone.this.id"),
                    public_network_access_enabled=False,
                    administrator_login=_v("admin_login"),
                    administrator_password=_v("admin_password"),
                    sku_name=_v("sku_name"),
                    storage_mb=_v("storage_mb"),
                    backup_retention_days=_v("backup_retention_days"),
                    geo_redundant_backup_enabled=_v("geo_redundant_backup"),
                    zone="1",
                    tags=_v("tags"),
                ),
                Blank(),
                Attr("depends_on", [Expr("azurerm_private_dns_zone_virtual_network_link.this")]),
            ],
        ),
        block(
            "resource",
            "azurerm_postgresql_flexible_server_database",
            "this",
            body=attrs(
                name=_v("database_name"),
                server_id=Expr("azurerm_postgresql_flexible_server.this.id"),
                charset="UTF8",
                collation="en_US.utf8",
            ),
        ),
    ]
    variables: list[Item] = [
        *_name_tags_variables("server"),
        _variable("location", "string", "Azure region.", required=True),
        _variable("resource_group_name", "string", "Resource group.", required=True),
        _variable(
            "vnet_id", "string", "Virtual network (for the private DNS zone).", required=True
        ),
        _variable("subnet_id", "string", "Subnet delegated to flexible servers.", required=True),
        _variable("postgres_version", "string", "PostgreSQL major version.", "16"),
        _variable("sku_name", "string", "Compute tier and size.", "GP_Standard_D2ds_v5"),
        _variable("storage_mb", "number", "Storage (MiB).", 32768),
        _variable("backup_retention_days", "number", "Days of backups.", 7),
        _variable("geo_redundant_backup", "bool", "Backups copied to the paired region.", False),
        _variable("database_name", "string", "The database to create.", "app"),
        _variable("admin_login", "string", "Administrator login.", "app_admin"),
        _variable(
            "admin_password",
            "string",
            "Administrator password: set TF_VAR_admin_password, never in a file.",
            required=True,
            sensitive=True,
        ),
    ]
    outputs: list[Item] = [
        _output("fqdn", "azurerm_postgresql_flexible_server.this.fqdn", "Host name to connect to."),
    ]
    return main, variables, outputs


# ---------------------------------------------------------------------------------------
# Roots: environments/<env>/<component>/


def _state_key(spec: ScaffoldSpec, env: str, component: str) -> str:
    return f"{spec.project}/{env}/{component}"


def _backend(spec: ScaffoldSpec, env: str, component: str) -> tuple[str, dict[str, hcl.Value]]:
    key = _state_key(spec, env, component)
    if spec.provider == "aws":
        config: dict[str, hcl.Value] = {
            "bucket": spec.state_bucket or f"{spec.project}-tfstate",
            "key": f"{key}/terraform.tfstate",
            "region": spec.state_region or spec.region or DEFAULT_REGION["aws"],
            "encrypt": True,
        }
        if spec.dynamodb_table:
            config["dynamodb_table"] = spec.dynamodb_table
        else:
            config["use_lockfile"] = True
        return "s3", config
    if spec.provider == "gcp":
        return "gcs", {"bucket": spec.state_bucket or f"{spec.project}-tfstate", "prefix": key}
    account = spec.state_storage_account or (
        re.sub(r"[^a-z0-9]", "", spec.project)[:17] + "tfstate"
    )
    return "azurerm", {
        "resource_group_name": spec.state_resource_group or f"{spec.project}-tfstate",
        "storage_account_name": account,
        "container_name": "tfstate",
        "key": f"{key}.tfstate",
        "use_azuread_auth": True,
    }


def _remote_state(spec: ScaffoldSpec, env: str, component: str) -> Block:
    kind, config = _backend(spec, env, component)
    config.pop("use_lockfile", None)
    config.pop("dynamodb_table", None)
    return block(
        "data",
        "terraform_remote_state",
        component,
        body=[Attr("backend", kind), Blank(), Attr("config", config)],
    )


def _provider_block(spec: ScaffoldSpec) -> Block:
    if spec.provider == "aws":
        return block(
            "provider",
            "aws",
            body=[
                Attr("region", _v("region")),
                Blank(),
                block("default_tags", body=attrs(tags=Expr("module.naming.tags"))),
            ],
        )
    if spec.provider == "gcp":
        return block(
            "provider",
            "google",
            body=attrs(
                project=_v("project_id"),
                region=_v("region"),
                default_labels=Expr("module.naming.tags"),
            ),
        )
    return block(
        "provider",
        "azurerm",
        body=[Attr("subscription_id", _v("subscription_id")), Blank(), block("features")],
    )


def _root_variables(spec: ScaffoldSpec, component: str) -> list[Item]:
    items: list[Item] = [
        _variable("project", "string", "The project.", required=True),
        _variable("environment", "string", "The environment.", required=True),
    ]
    if component == "naming":
        return items
    if spec.provider == "aws":
        items.append(_variable("region", "string", "AWS region.", required=True))
    elif spec.provider == "gcp":
        items.append(_variable("project_id", "string", "Google Cloud project.", required=True))
        items.append(_variable("region", "string", "Region.", required=True))
    else:
        items.append(_variable("subscription_id", "string", "Azure subscription.", required=True))
        if component == "network":
            items.append(_variable("location", "string", "Azure region.", required=True))
    sizes = _sizes(spec, "production")[component]
    for name, value in sizes.items():
        type_ = (
            "bool"
            if isinstance(value, bool)
            else "number"
            if isinstance(value, int)
            else ("list(string)" if isinstance(value, list) else "string")
        )
        items.append(_variable(name, type_, f"See the module's {name}.", required=True))
    if spec.provider == "azure" and component == "database":
        items.append(
            _variable(
                "admin_password",
                "string",
                "Administrator password: set TF_VAR_admin_password, never in a file.",
                required=True,
                sensitive=True,
            )
        )
    return items


def _sizes(spec: ScaffoldSpec, env: str) -> dict[str, dict[str, hcl.Value]]:
    """Per-environment settings written to terraform.tfvars (production is bigger, safer)."""
    prod = env == "production"
    if spec.provider == "aws":
        return {
            "network": {
                "cidr": "10.0.0.0/16" if prod else "10.1.0.0/16",
                "az_count": 3 if prod else 2,
            },
            "cluster": {
                "node_instance_types": ["m6i.large"],
                "node_min": 3 if prod else 1,
                "node_max": 10 if prod else 3,
            },
            "database": {
                "instance_class": "db.r6g.large" if prod else "db.t4g.medium",
                "multi_az": prod,
                "backup_retention_days": 14 if prod else 3,
                "deletion_protection": prod,
            },
            "naming": {},
        }
    if spec.provider == "gcp":
        return {
            "network": {"cidr": "10.10.0.0/20" if prod else "10.11.0.0/20"},
            "cluster": {
                "machine_type": "e2-standard-4",
                "node_min": 1,
                "node_max": 5 if prod else 2,
                "deletion_protection": prod,
            },
            "database": {
                "tier": "db-custom-2-7680" if prod else "db-custom-1-3840",
                "high_availability": prod,
                "deletion_protection": prod,
            },
            "naming": {},
        }
    return {
        "network": {"cidr": "10.30.0.0/16" if prod else "10.31.0.0/16"},
        "cluster": {
            "vm_size": "Standard_D4s_v5",
            "node_min": 3 if prod else 1,
            "node_max": 10 if prod else 3,
        },
        "database": {
            "sku_name": "GP_Standard_D2ds_v5" if prod else "B_Standard_B1ms",
            "backup_retention_days": 14 if prod else 7,
            "geo_redundant_backup": prod,
        },
        "naming": {},
    }


def _module_call(spec: ScaffoldSpec, component: str) -> Block:
    source = f"../../../modules/{MODULE_DIR[spec.provider][component]}"
    sizes = {k: _v(k) for k in _sizes(spec, "production")[component]}
    net = "data.terraform_remote_state.network.outputs"
    table: dict[str, Mapping[str, hcl.Value]]
    p = spec.provider
    if p == "aws":
        table = {
            "network": {"name": Expr("module.naming.prefix"), "tags": Expr("module.naming.tags")},
            "cluster": {
                "name": Expr("module.naming.name"),
                "tags": Expr("module.naming.tags"),
                "subnet_ids": Expr(f"{net}.private_subnet_ids"),
            },
            "database": {
                "name": Expr("module.naming.name"),
                "tags": Expr("module.naming.tags"),
                "vpc_id": Expr(f"{net}.vpc_id"),
                "subnet_ids": Expr(f"{net}.private_subnet_ids"),
                "allowed_cidrs": [Expr(f"{net}.cidr")],
            },
        }
    elif p == "gcp":
        table = {
            "network": {"name": Expr("module.naming.prefix"), "region": _v("region")},
            "cluster": {
                "name": Expr("module.naming.name"),
                "project_id": _v("project_id"),
                "region": _v("region"),
                "network_id": Expr(f"{net}.network_id"),
                "subnetwork_id": Expr(f"{net}.subnetwork_id"),
                "pods_range_name": Expr(f"{net}.pods_range_name"),
                "services_range_name": Expr(f"{net}.services_range_name"),
                "labels": Expr("module.naming.tags"),
            },
            "database": {
                "name": Expr("module.naming.name"),
                "region": _v("region"),
                "network_id": Expr(f"{net}.network_id"),
                "labels": Expr("module.naming.tags"),
            },
        }
    else:
        shared = {
            "location": Expr(f"{net}.location"),
            "resource_group_name": Expr(f"{net}.resource_group_name"),
        }
        table = {
            "network": {
                "name": Expr("module.naming.prefix"),
                "tags": Expr("module.naming.tags"),
                "location": _v("location"),
            },
            "cluster": {
                "name": Expr("module.naming.name"),
                "tags": Expr("module.naming.tags"),
                **shared,
                "subnet_id": Expr(f"{net}.cluster_subnet_id"),
            },
            "database": {
                "name": Expr("module.naming.name"),
                "tags": Expr("module.naming.tags"),
                **shared,
                "vnet_id": Expr(f"{net}.vnet_id"),
                "subnet_id": Expr(f"{net}.database_subnet_id"),
                "admin_password": _v("admin_password"),
            },
        }
    args = table[component]
    body: list[Item] = [Attr("source", source), Blank()]
    body += [Attr(k, v) for k, v in args.items()]
    if sizes:
        body.append(Blank())
        body += [Attr(k, v) for k, v in sizes.items()]
    return block("module", component, body=body)


_MODULE_OUTPUTS = {
    ("aws", "network"): ["vpc_id", "cidr", "private_subnet_ids", "public_subnet_ids"],
    ("aws", "cluster"): ["cluster_name", "endpoint", "certificate_authority"],
    ("aws", "database"): ["address", "port", "master_user_secret_arn"],
    ("gcp", "network"): [
        "network_id",
        "subnetwork_id",
        "pods_range_name",
        "services_range_name",
        "private_services_connection",
    ],
    ("gcp", "cluster"): ["cluster_name", "endpoint", "ca_certificate"],
    ("gcp", "database"): ["connection_name", "private_ip"],
    ("azure", "network"): [
        "resource_group_name",
        "location",
        "vnet_id",
        "cluster_subnet_id",
        "database_subnet_id",
    ],
    ("azure", "cluster"): ["cluster_name", "oidc_issuer_url"],
    ("azure", "database"): ["fqdn"],
}


def _root(spec: ScaffoldSpec, env: str, component: str) -> dict[Path, str]:
    base = Path("environments") / env / component
    naming = block(
        "module",
        "naming",
        body=[
            Attr("source", "../../../modules/naming"),
            Blank(),
            *attrs(project=_v("project"), environment=_v("environment"), component=component),
        ],
    )
    main: list[Item] = [naming]
    outputs: list[Item] = []
    if component == "naming":
        outputs = [
            _output("prefix", "module.naming.prefix", "Name prefix of this environment."),
            _output("tags", "module.naming.tags", "Standard tags."),
        ]
    else:
        main.insert(0, _provider_block(spec))
        if component != "network":
            main.append(_remote_state(spec, env, "network"))
        main.append(_module_call(spec, component))
        outputs = [
            _output(o, f"module.{component}.{o}", f"The {component} module's {o}.")
            for o in _MODULE_OUTPUTS[(spec.provider, component)]
        ]
    kind, config = _backend(spec, env, component)
    backend = hcl.render(
        [
            Comment(f"State of {env}/{component}: its own key, remote, encrypted, locked."),
            block(
                "terraform",
                body=[block("backend", kind, body=[Attr(k, v) for k, v in config.items()])],
            ),
        ]
    )
    tfvars: dict[str, hcl.Value] = {"project": spec.project, "environment": env}
    if component != "naming":
        if spec.provider == "aws":
            tfvars["region"] = spec.region or DEFAULT_REGION["aws"]
        elif spec.provider == "gcp":
            tfvars["project_id"] = spec.gcp_project or spec.project
            tfvars["region"] = spec.region or DEFAULT_REGION["gcp"]
        else:
            tfvars["subscription_id"] = "00000000-0000-0000-0000-000000000000"
            if component == "network":
                tfvars["location"] = spec.region or DEFAULT_REGION["azure"]
        tfvars.update(_sizes(spec, env)[component])
    tfvars_items: list[Item] = [Attr(k, v) for k, v in tfvars.items()]
    if spec.provider == "azure" and component != "naming":
        tfvars_items.insert(
            0, Comment("Replace with your subscription (az account show --query id).")
        )
    files = {
        base / "main.tf": hcl.render(main),
        base / "variables.tf": hcl.render(_root_variables(spec, component)),
        base / "outputs.tf": hcl.render(outputs),
        base / "versions.tf": _versions(
            spec, None if component == "naming" else spec.provider, root=True
        ),
        base / "backend.tf": backend,
        base / "terraform.tfvars": hcl.render(tfvars_items),
    }
    return files


# ---------------------------------------------------------------------------------------
# README and the drift deployment


def _readme(spec: ScaffoldSpec) -> str:
    modules = ", ".join(f"`modules/{MODULE_DIR[spec.provider][c]}` ({c})" for c in spec.components)
    rows = []
    for env in spec.environments:
        for component in spec.all_components:
            kind, config = _backend(spec, env, component)
            where = {
                "s3": f"s3://{config.get('bucket')}/{config.get('key')}",
                "gcs": f"gs://{config.get('bucket')}/{config.get('prefix')}/default.tfstate",
                "azurerm": f"{config.get('storage_account_name')}/tfstate/{config.get('key')}",
            }[kind]
            rows.append(f"| `environments/{env}/{component}` | `{where}` |")
    locking = {
        "aws": (
            f"DynamoDB table `{spec.dynamodb_table}` (asked for with --dynamodb-table; S3's own "
            "lockfile locking needs Terraform 1.11+ and replaces it)"
            if spec.dynamodb_table
            else "S3's own lockfile (`use_lockfile = true`, Terraform 1.11+; no DynamoDB table)"
        ),
        "gcp": "GCS object locks (built into the gcs backend)",
        "azure": "blob leases (built into the azurerm backend)",
    }[spec.provider]
    bootstrap = {
        "aws": (
            "aws s3api create-bucket --bucket {b} --create-bucket-configuration "
            "LocationConstraint={r}\n"
            "aws s3api put-bucket-versioning --bucket {b} --versioning-configuration "
            "Status=Enabled\n"
            "aws s3api put-bucket-encryption --bucket {b} --server-side-encryption-configuration "
            '\'{{"Rules":[{{"ApplyServerSideEncryptionByDefault":{{"SSEAlgorithm":"aws:kms"}}}}]}}\'\n'
            "aws s3api put-public-access-block --bucket {b} --public-access-block-configuration "
            "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,"
            "RestrictPublicBuckets=true"
        ),
        "gcp": (
            "gcloud storage buckets create gs://{b} --location={r} "
            "--uniform-bucket-level-access --public-access-prevention\n"
            "gcloud storage buckets update gs://{b} --versioning"
        ),
        "azure": (
            "az group create --name {g} --location {r}\n"
            "az storage account create --name {a} --resource-group {g} --sku Standard_ZRS "
            "--min-tls-version TLS1_2 --allow-blob-public-access false\n"
            "az storage container create --name tfstate --account-name {a} --auth-mode login"
        ),
    }[spec.provider]
    _, first = _backend(spec, spec.environments[0], "network")
    bootstrap = bootstrap.format(
        b=first.get("bucket", ""),
        r=spec.state_region or spec.region or DEFAULT_REGION[spec.provider],
        g=first.get("resource_group_name", ""),
        a=first.get("storage_account_name", ""),
    )
    order = " → ".join(spec.all_components)
    roots = "\n".join(f"- `{spec.prefix}/{r}`" for r in spec.roots())
    return f"""# {spec.project}: infrastructure ({spec.provider})

Generated by `shipflow scaffold`. Reusable modules in `modules/`, one Terraform root per
environment and component in `environments/<env>/<component>/`.

```
modules/naming/              names and tags (no provider)
{chr(10).join(f"modules/{MODULE_DIR[spec.provider][c]:<24}{c}" for c in spec.components)}
environments/<env>/<component>/
  main.tf            the provider, the module call, the network's outputs (remote state)
  variables.tf       inputs of this root
  terraform.tfvars   this environment's values (production: bigger, multi-zone, protected)
  backend.tf         where this root's state lives
  versions.tf        Terraform and provider versions, pinned with ~>
  outputs.tf         what other roots read through terraform_remote_state
```

Modules: `modules/naming`, {modules}.

## State: remote, one per environment per component

Each root has its own state, so a change to the cluster never locks or risks the database,
and staging never touches production. Nothing is kept locally. Locking: {locking}. State is
encrypted at rest (`encrypt = true` on S3; GCS and Azure Storage always encrypt).

| root | state |
|---|---|
{chr(10).join(rows)}

The state storage itself is not managed here (it must exist before `terraform init`); create
it once:

```bash
{bootstrap}
```

## Applying

In each environment, apply in this order: {order} (the others read the network's outputs
through `terraform_remote_state`). For example:

```bash
cd environments/{spec.environments[0]}/network && terraform init && terraform plan -out=tfplan
# plan → approval in the Prefect UI → apply of exactly that plan:
shipflow terraform release {spec.prefix}/environments/{spec.environments[0]}/network
```

Secrets never go into `terraform.tfvars`: pass them as `TF_VAR_…` from the environment
(or a shipflow `secret_vars` Prefect Secret block).{_password_note(spec)}

## Drift

`drift.prefect.yaml` holds a `detect-drift` deployment that plans exactly these roots every
day (relative to `SHIPFLOW_STACKS_ROOT`, the repository checkout):

{roots}

```bash
prefect deploy --prefect-file {spec.prefix}/drift.prefect.yaml --all
shipflow drift {" ".join(f"{spec.prefix}/{r}" for r in spec.roots()[:2])} …   # or once, by hand
```

## Checked when generated

Every file passes `terraform fmt -check` and parses as HCL2; roots that use no registry
provider (`environments/*/naming`) pass `terraform init -backend=false` and
`terraform validate`. The cloud modules need their provider downloaded to be validated:
run `terraform init -backend=false && terraform validate` in each root once.
"""


def _password_note(spec: ScaffoldSpec) -> str:
    if spec.provider == "azure" and "database" in spec.components:
        return " The database administrator password is `TF_VAR_admin_password`."
    return ""


def _drift_deployment(spec: ScaffoldSpec) -> str:
    doc = {
        "deployments": [
            {
                "name": f"detect-drift-{spec.project}",
                "entrypoint": "flows/detect_drift.py:detect_drift",
                "description": (
                    f"Plan the {spec.project} roots daily (never apply) and report drift."
                ),
                "tags": ["shipflow", "terraform", "drift"],
                "parameters": {"stacks": list(scaffold_roots(spec)), "max_parallel": 4},
                "schedules": [{"cron": "0 6 * * *", "timezone": "UTC"}],
                "work_pool": {"name": "shipflow"},
            }
        ]
    }
    header = (
        "# Generated by shipflow scaffold: detect_drift over the roots it wrote (paths relative\n"
        "# to SHIPFLOW_STACKS_ROOT). Deploy with: prefect deploy --prefect-file "
        f"{spec.prefix}/drift.prefect.yaml --all\n"
    )
    return header + yaml.safe_dump(doc, sort_keys=False, width=1000)


def scaffold_roots(spec: ScaffoldSpec) -> Sequence[str]:
    """The roots detect_drift should plan (relative to the repository)."""
    return [str(PurePosixPath(spec.prefix) / r) for r in spec.roots()]
