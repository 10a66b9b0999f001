//! Command-line definitions (clap derive) and nothing else: commands live in `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Size, provision and rebalance Apache Kafka and Kafka-compatible clusters on AWS.
#[derive(Debug, Parser)]
#[command(name = "streamctl", version, about, long_about = None, propagate_version = true)]
#[command(
    after_help = "Exit codes: 0 ok, 1 operation failed, 2 bad input, 3 changes pending (--detailed-exitcode), 4 check failed, 5 done but cleanup pending on a broker that is down.\nDocs: docs/getting-started.md"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Output format: a human table, or JSON / YAML with stable field names for scripts.
    #[arg(short = 'o', long, value_enum, default_value_t = OutputArg::Table, global = true)]
    pub output: OutputArg,
    /// Never draw progress bars (they are also hidden when stdout is not a terminal).
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// More log output on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// AWS region (default: the SDK's usual lookup: AWS_REGION, profile).
    #[arg(long, global = true, env = "AWS_REGION", hide_env_values = true)]
    pub region: Option<String>,
    /// AWS named profile.
    #[arg(long, global = true, env = "AWS_PROFILE", hide_env_values = true)]
    pub profile: Option<String>,
    /// AWS endpoint override, e.g. a local emulator (http://127.0.0.1:5000).
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL", hide_env_values = true)]
    pub endpoint_url: Option<String>,
    /// Attempts per AWS call on throttling, 5xx and transport errors.
    #[arg(long, global = true, value_name = "N", env = "AWS_MAX_ATTEMPTS", hide_env_values = true, default_value_t = crate::aws::retry::DEFAULT_MAX_ATTEMPTS, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_attempts: u32,
    /// Longest one AWS call may spend retrying, e.g. 5m.
    #[arg(long, global = true, value_name = "DURATION", default_value = "5m")]
    pub max_retry_wait: crate::spec::Duration,
    /// AWS SDK retry mode: standard (AWS's recommendation) or adaptive (adds client-side rate
    /// limiting; slower, for accounts other tools keep throttled).
    #[arg(long, global = true, value_enum, env = "AWS_RETRY_MODE", hide_env_values = true, default_value_t = RetryMode::Standard)]
    pub retry_mode: RetryMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RetryMode {
    Standard,
    Adaptive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputArg {
    Table,
    Json,
    Yaml,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a cluster spec (cluster.yaml) without touching anything.
    Validate(ValidateArgs),
    /// Size a cluster: sustained throughput of a layout, or the cheapest layouts for a workload.
    #[command(subcommand)]
    Size(SizeCommand),
    /// Plan an AZ-aware replica reassignment: every partition's replicas spread over AZs,
    /// brokers and leaders balanced, the fewest bytes moved.
    Reassign(Box<ReassignArgs>),
    /// Migrate a live cluster between storage models: classic → KIP-405 tiered storage in
    /// throttled waves, then drain brokers; shows the plan first.
    #[command(subcommand)]
    Migrate(MigrateCommand),
    /// Create or converge the cluster's AWS resources (S3, IAM, network, node groups); shows
    /// the plan first.
    Provision(ProvisionArgs),
    /// Write the configs the cluster needs: Kafka server.properties (classic, tiered, Confluent),
    /// Bufstream Helm values, etcd, clients, user-data.
    Render(RenderArgs),
    /// Remove what streamctl created for the cluster (found by tags); shows the plan first.
    Destroy(DestroyArgs),
    /// What exists for the cluster, by group and AZ, and how it differs from the spec.
    Inventory(InventoryArgs),
    /// Write a live cluster's brokers, racks, assignment and partition sizes as a snapshot file
    /// (the format `reassign --from-file` reads).
    Snapshot(SnapshotArgs),
    /// Read a live cluster over a sample window (read-only): measured ingress per topic, groups,
    /// disks, AZ tolerance; its classic, tiered and diskless successors sized from that, and the
    /// migration commands with their flags and predicted durations.
    Assess(Box<AssessArgs>),
    /// Checks that exit non-zero (4) when they find a problem, for CI.
    #[command(subcommand)]
    Check(CheckCommand),
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The cluster spec.
    #[arg(short = 'f', long = "file", value_name = "CLUSTER_YAML")]
    pub file: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum SizeCommand {
    /// The sustained ingress limit of a given layout (seed equations), and what bounds it.
    Throughput(ThroughputArgs),
    /// The cheapest classic, tiered and diskless layouts for a workload, side by side.
    Recommend(RecommendArgs),
    /// The embedded instance catalog (vCPU, memory, baseline EBS and network MB/s, price).
    Catalog(CatalogArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BalanceArg {
    Auto,
    Replicas,
    Bytes,
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StorageArg {
    Classic,
    Tiered,
    Diskless,
}

/// Consumer groups by where they read.
#[derive(Debug, Args)]
pub struct GroupArgs {
    /// Consumer groups reading at the tip (from page cache). Alias: --tip-consumer-groups.
    #[arg(
        long = "consumer-groups",
        visible_alias = "tip-consumer-groups",
        value_name = "N"
    )]
    pub tip: Option<u32>,
    /// Consumer groups reading older data from broker disks.
    #[arg(
        long = "lagging-consumer-groups",
        value_name = "N",
        default_value_t = 0
    )]
    pub lagging: u32,
    /// Consumer groups reading from the remote tier (tiered only).
    #[arg(long = "remote-consumer-groups", value_name = "N", default_value_t = 0)]
    pub remote: u32,
}

#[derive(Debug, Args)]
pub struct ThroughputArgs {
    /// How brokers store data.
    #[arg(long, value_enum, default_value_t = StorageArg::Classic)]
    pub storage: StorageArg,
    /// Broker instance type from the catalog (`streamctl size catalog`).
    #[arg(long, value_name = "TYPE", required_unless_present_all = ["ebs_baseline_mbps", "network_baseline_mbps"])]
    pub instance_type: Option<String>,
    /// Number of brokers.
    #[arg(long, default_value_t = 3)]
    pub brokers: u32,
    /// Replication factor r.
    #[arg(long, default_value_t = 3)]
    pub replication_factor: u32,
    #[command(flatten)]
    pub groups: GroupArgs,
    /// Provisioned throughput of each broker's data volume, MB/s.
    #[arg(long, default_value_t = 250.0, value_name = "MBPS")]
    pub volume_throughput_mbps: f64,
    /// Override the instance's baseline EBS throughput, MB/s.
    #[arg(long, value_name = "MBPS")]
    pub ebs_baseline_mbps: Option<f64>,
    /// Override the instance's baseline network bandwidth, MB/s.
    #[arg(long, value_name = "MBPS")]
    pub network_baseline_mbps: Option<f64>,
    /// vCPUs per broker (diskless CPU term) when no --instance-type is given.
    #[arg(long)]
    pub vcpus: Option<u32>,
    /// Fraction of the sustained limit to plan for.
    #[arg(long, default_value_t = 0.8)]
    pub headroom: f64,
    /// Availability zones (diskless: object reads are one fetch per zone with readers).
    #[arg(long, default_value_t = 3)]
    pub azs: u32,
    /// Diskless: times each byte is read from object storage (default: min(groups, AZs)).
    #[arg(long, value_name = "FACTOR")]
    pub object_read_factor: Option<f64>,
    /// Read baselines from EC2 DescribeInstanceTypes instead of the embedded catalog.
    #[arg(long)]
    pub live_catalog: bool,
}

#[derive(Debug, Args)]
pub struct RecommendArgs {
    /// Take the workload (ingress, groups, RF, retention, AZs) from a cluster spec.
    #[arg(short = 'f', long = "file", value_name = "CLUSTER_YAML")]
    pub file: Option<PathBuf>,
    /// Sustained producer ingress, MB/s.
    #[arg(long, value_name = "MBPS", required_unless_present = "file")]
    pub ingress_mbps: Option<f64>,
    #[command(flatten)]
    pub groups: GroupArgs,
    /// Replication factor.
    #[arg(long)]
    pub replication_factor: Option<u32>,
    /// Topic retention, e.g. 7d, 36h.
    #[arg(long, value_name = "DURATION")]
    pub retention: Option<String>,
    /// Tiered: how long segments stay on broker disks (default 4h, capped at the retention).
    #[arg(long, value_name = "DURATION")]
    pub local_retention: Option<String>,
    /// Still carry the workload at the headroom target with one AZ's brokers gone.
    #[arg(long)]
    pub az_failure_tolerant: bool,
    /// Instance families to search (repeat or comma-separate): m5, m6i, m6in, m7i, r6i.
    #[arg(long = "family", value_delimiter = ',', default_value = "m6in")]
    pub families: Vec<String>,
    /// Availability zones the brokers are spread over.
    #[arg(long, default_value_t = 3)]
    pub azs: u32,
    /// Fraction of the sustained limit to plan for.
    #[arg(long, default_value_t = 0.8)]
    pub headroom: f64,
    /// Plan data volumes to be at most this full.
    #[arg(long, default_value_t = 0.6)]
    pub disk_fill_target: f64,
    /// Largest data volume per broker, GiB.
    #[arg(long, default_value_t = 16_384)]
    pub max_volume_gib: u64,
    /// Largest cluster to consider.
    #[arg(long, default_value_t = 300)]
    pub max_brokers: u32,
    /// Diskless: object flush interval per broker (Bufstream intake delay_max), ms.
    #[arg(long, default_value_t = 100.0)]
    pub diskless_flush_ms: f64,
    /// Leave cross-AZ transfer out of the cost.
    #[arg(long)]
    pub no_transfer_cost: bool,
    /// Layouts to show per storage model.
    #[arg(long, default_value_t = 1)]
    pub top: usize,
    /// Read baselines from EC2 DescribeInstanceTypes instead of the embedded catalog.
    #[arg(long)]
    pub live_catalog: bool,
}

#[derive(Debug, Args)]
pub struct CatalogArgs {
    /// Only these families (comma-separated).
    #[arg(long = "family", value_delimiter = ',')]
    pub families: Vec<String>,
    /// Read baselines from EC2 DescribeInstanceTypes instead of the embedded catalog.
    #[arg(long)]
    pub live_catalog: bool,
}

/// Where the current assignment comes from (offline: a file).
#[derive(Debug, Args)]
pub struct AssignmentSource {
    /// A live cluster: host:port[,host:port...] of its brokers (racks from broker.rack, sizes
    /// from DescribeLogDirs).
    #[arg(long, value_name = "HOST:PORT", conflicts_with_all = ["from_file", "current_assignment"])]
    pub bootstrap_server: Option<String>,
    #[command(flatten)]
    pub security: KafkaSecurity,
    /// A snapshot file: {"brokers":[{"id","rack"}],"partitions":[{"topic","partition","replicas","size_bytes"?,"local_size_bytes"?}]}.
    #[arg(
        long,
        value_name = "SNAPSHOT_JSON",
        conflicts_with = "current_assignment"
    )]
    pub from_file: Option<PathBuf>,
    /// Kafka's current-assignment JSON ({"version":1,"partitions":[...]}), with racks from --broker-racks.
    #[arg(long, value_name = "KAFKA_JSON")]
    pub current_assignment: Option<PathBuf>,
    /// Broker racks for --current-assignment: 1=us-east-1a,2=us-east-1b,... (brokers listed here
    /// without replicas are new brokers).
    #[arg(long, value_name = "ID=RACK,...", conflicts_with = "broker_racks_file")]
    pub broker_racks: Option<String>,
    /// Broker racks from a file: `ID=RACK` lines or a JSON object {"1": "us-east-1a"}.
    #[arg(long, value_name = "FILE")]
    pub broker_racks_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReassignArgs {
    /// Spread every partition's replicas over AZs (broker.rack); the planner is always AZ-aware,
    /// the flag states it in scripts.
    #[arg(long)]
    pub az_aware: bool,
    #[command(flatten)]
    pub source: AssignmentSource,
    /// Drain these brokers (comma-separated ids).
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    pub remove_brokers: Vec<i32>,
    /// Only move partitions of topics matching this regular expression.
    #[arg(long, value_name = "REGEX")]
    pub topics: Option<String>,
    /// At most this many replica moves (the best plan within the budget).
    #[arg(long, value_name = "N")]
    pub max_moves: Option<u64>,
    /// At most this many bytes moved, e.g. 500GiB.
    #[arg(long, value_name = "SIZE")]
    pub max_move_bytes: Option<String>,
    /// Replication throttle per broker for the time estimate, e.g. 50MiB/s.
    #[arg(long, value_name = "RATE")]
    pub throttle: Option<String>,
    /// What to even out across brokers: replica counts, bytes (each broker within
    /// --byte-tolerance of its AZ's mean, the fewest bytes moved), or both (bytes first, then
    /// counts evened inside each AZ by moves that keep every broker in its band). auto: both
    /// when every partition has a size (live snapshots, snapshots with size_bytes), else
    /// replicas. Every mode spreads each topic over its AZ's brokers.
    #[arg(long, value_enum, default_value_t = BalanceArg::Auto)]
    pub balance: BalanceArg,
    /// With --balance bytes: the band around the AZ mean, as a fraction (0.05 = ±5 %).
    #[arg(long, default_value_t = 0.05)]
    pub byte_tolerance: f64,
    /// Disk size per broker, `ID=SIZE` lines (e.g. `4=2TiB`), overriding what a live cluster
    /// reports (DescribeLogDirs total bytes): byte balance then evens out utilisation.
    #[arg(long, value_name = "FILE")]
    pub broker_capacity: Option<PathBuf>,
    /// Never plan a broker with a known disk size above this share of it (exit 2 when no plan can).
    #[arg(long, default_value_t = 0.8)]
    pub max_disk_utilisation: f64,
    /// Write the plan as kafka-reassign-partitions JSON (changed partitions only).
    #[arg(long, value_name = "FILE")]
    pub plan_out: Option<PathBuf>,
    /// Write the current assignment of the changed partitions (to roll back).
    #[arg(long, value_name = "FILE")]
    pub rollback_out: Option<PathBuf>,
    /// Run the plan on the cluster (--bootstrap-server): throttled, batched, resumable.
    #[arg(long, requires = "bootstrap_server", conflicts_with_all = ["verify", "cancel"])]
    pub execute: bool,
    /// Check a running or interrupted execution against its journal; finishes it (leaders,
    /// throttles) when the moves are complete.
    #[arg(long, requires = "bootstrap_server", conflicts_with = "cancel")]
    pub verify: bool,
    /// Cancel a running execution: the cluster reverts unfinished moves, throttles are removed.
    #[arg(long, requires = "bootstrap_server")]
    pub cancel: bool,
    /// Per-broker throttles overriding --throttle: `BROKER_ID=RATE` lines (e.g. `4=20MiB/s`).
    #[arg(long, value_name = "FILE", requires = "execute")]
    pub throttle_file: Option<PathBuf>,
    /// With --execute: run exactly this reviewed plan (Kafka's reassignment JSON, as --plan-out
    /// writes and kafka-reassign-partitions.sh takes) instead of planning from the live cluster.
    #[arg(
        long,
        value_name = "KAFKA_JSON",
        requires = "execute",
        conflicts_with_all = ["remove_brokers", "topics", "max_moves", "max_move_bytes", "plan_out", "rollback_out"]
    )]
    pub plan_file: Option<PathBuf>,
    /// The execution journal (resumed when it holds an unfinished run).
    #[arg(
        long,
        value_name = "FILE",
        default_value = ".streamctl/reassign-journal.json"
    )]
    pub journal: PathBuf,
    /// At most this many moves in flight per broker.
    #[arg(long, default_value_t = 2)]
    pub max_concurrent_moves_per_broker: usize,
    /// Move one replica of a partition at a time (each step swaps one old replica for a new one).
    #[arg(long)]
    pub one_replica_at_a_time: bool,
    /// Run even though other reassignments are in progress on the cluster.
    #[arg(long)]
    pub additional: bool,
    /// Hold back moves of partitions with fewer in-sync replicas than --min-insync.
    #[arg(long)]
    pub respect_min_isr: bool,
    /// The min.insync.replicas for --respect-min-isr.
    #[arg(long, default_value_t = 2)]
    pub min_insync: usize,
    /// How often to poll the cluster while moves run, in milliseconds (one ListPartitionReassignments
    /// and one Metadata request for the moving topics per poll).
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u64).range(50..=60_000))]
    pub poll_ms: u64,
    #[command(flatten)]
    pub metrics: MetricsArgs,
}

/// How to authenticate to Kafka.
#[derive(Debug, Args, Clone)]
pub struct KafkaSecurity {
    /// Client properties like the Kafka tools take (security.protocol, sasl.mechanism, ssl.*).
    #[arg(long, value_name = "FILE")]
    pub command_config: Option<PathBuf>,
}

/// `--metrics-addr` and `--metrics-linger` of the long commands.
#[derive(Debug, Args, Clone)]
pub struct MetricsArgs {
    /// Serve Prometheus metrics of this run at http://HOST:PORT/metrics (off by default; port 0
    /// picks a free one and prints it on stderr). See docs/metrics.md.
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_addr: Option<String>,
    /// With --metrics-addr: at the end, keep serving until the final figures were scraped once,
    /// at most this long (set it to the scrape interval so Prometheus sees how the run ended).
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "0s",
        requires = "metrics_addr"
    )]
    pub metrics_linger: String,
}

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// The cluster: host:port[,host:port...].
    #[arg(long, value_name = "HOST:PORT")]
    pub bootstrap_server: String,
    #[command(flatten)]
    pub security: KafkaSecurity,
    /// Only topics matching this regular expression.
    #[arg(long, value_name = "REGEX")]
    pub topics: Option<String>,
}

#[derive(Debug, Args)]
pub struct AssessArgs {
    /// The cluster: host:port[,host:port...].
    #[arg(long, value_name = "HOST:PORT")]
    pub bootstrap_server: String,
    #[command(flatten)]
    pub security: KafkaSecurity,
    /// Only topics matching this regular expression (internal `__` topics are always left out).
    #[arg(long, value_name = "REGEX")]
    pub topics: Option<String>,
    /// How long to measure: every topic's log ends and sizes are read at both ends of it.
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    pub sample: String,
    /// The current brokers' EC2 instance type (for their throughput limit and the verdict).
    #[arg(long, value_name = "TYPE")]
    pub instance_type: Option<String>,
    /// The current brokers' data volume throughput, MB/s.
    #[arg(long, value_name = "MBPS", default_value_t = 250.0)]
    pub volume_throughput: f64,
    /// The tiered successor: how long closed segments stay on broker disks.
    #[arg(long, value_name = "DURATION", default_value = "4h")]
    pub local_retention: String,
    /// Plan the successors for this share of their sustained limit.
    #[arg(long, default_value_t = 0.8)]
    pub headroom: f64,
    /// The successors still carry the workload with one AZ's brokers gone.
    #[arg(long)]
    pub az_failure_tolerant: bool,
    /// Instance families the successors may use.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "FAMILY",
        default_value = "m6in"
    )]
    pub families: Vec<String>,
    /// Write here: assessment.json, a validated cluster-MODEL.yaml per successor and a
    /// migrate-MODEL.sh per migration (created if missing).
    #[arg(long, value_name = "DIR")]
    pub write_dir: Option<PathBuf>,
    /// The successors' name stem (clusters NAME-tiered, NAME-diskless, NAME-classic).
    #[arg(long, default_value = "assessed")]
    pub name: String,
    /// The successors' AWS region.
    #[arg(
        long = "successor-region",
        value_name = "REGION",
        default_value = "us-east-1"
    )]
    pub region: String,
}

#[derive(Debug, Subcommand)]
pub enum CheckCommand {
    /// Which partitions go offline or below min.insync.replicas if one AZ is lost (exit 4 if any).
    AzTolerance(AzToleranceArgs),
}

#[derive(Debug, Args)]
pub struct AzToleranceArgs {
    #[command(flatten)]
    pub source: AssignmentSource,
    /// The min.insync.replicas producers with acks=all rely on (default: each topic's own
    /// setting on a live cluster, 2 for files).
    #[arg(long)]
    pub min_insync: Option<usize>,
}

#[derive(Debug, Args)]
pub struct ProvisionArgs {
    /// The cluster spec.
    #[arg(short = 'f', long = "file", value_name = "CLUSTER_YAML")]
    pub file: PathBuf,
    /// Show the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: exit 3 when the plan has changes (0 when there is nothing to do).
    #[arg(long, requires = "dry_run")]
    pub detailed_exitcode: bool,
    /// Apply without asking (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Accept broker counts that are not a multiple of the AZ count.
    #[arg(long)]
    pub allow_uneven: bool,
    /// AMI for every node group (overrides node_groups[].image_id and the Amazon Linux 2023 lookup).
    #[arg(long, value_name = "AMI")]
    pub image_id: Option<String>,
    /// Also terminate extra instances that share a node id (left by lost responses of older
    /// versions or launched by hand): only ones streamctl launched whose data volume came with
    /// them; the oldest of each node id stays, data volumes are kept.
    #[arg(long)]
    pub prune_duplicates: bool,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// The cluster spec.
    #[arg(short = 'f', long = "file", value_name = "CLUSTER_YAML")]
    pub file: PathBuf,
    /// The cluster name, typed again: without it destroy only shows what it would remove.
    #[arg(long, value_name = "CLUSTER_NAME")]
    pub confirm: Option<String>,
    /// Also delete data: non-empty buckets (every object) and detached broker data volumes.
    #[arg(long)]
    pub delete_data: bool,
}

#[derive(Debug, Args)]
pub struct InventoryArgs {
    /// The cluster spec.
    #[arg(short = 'f', long = "file", value_name = "CLUSTER_YAML")]
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The cluster spec.
    #[arg(short = 'f', long = "file", value_name = "CLUSTER_YAML")]
    pub file: PathBuf,
    /// Where to write the files (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out_dir: PathBuf,
    /// Advertised host of each node: {name}, {group}, {index}, {az}, {node_id} are replaced.
    #[arg(long, default_value = "{name}")]
    pub host_template: String,
    /// Address listeners bind to.
    #[arg(long, default_value = "0.0.0.0")]
    pub listen_host: String,
    /// Kafka listener port (controllers use the next port).
    #[arg(long, default_value_t = 9092)]
    pub base_port: u16,
    /// Give every node its own ports from --base-port (several nodes on one host, e.g. tests).
    #[arg(long)]
    pub distinct_ports: bool,
    /// Data directory on the nodes.
    #[arg(long, default_value = "/var/lib/streamctl")]
    pub data_dir: String,
    /// The three AZs, for specs with `availability_zones: auto`.
    #[arg(long, value_delimiter = ',')]
    pub azs: Vec<String>,
    /// Bufstream intake flush interval (trades cost for latency), e.g. 90ms.
    #[arg(long, value_name = "DURATION")]
    pub intake_delay_max: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Move topics of a classic cluster onto KIP-405 tiered storage in throttled waves (the
    /// KIP-956 copy quota held at --tier-throttle), then optionally drain the old large-disk
    /// brokers, priced by local bytes. Resumable (--journal), --status, --rollback.
    Tiered(Box<MigrateTieredArgs>),
    /// Copy topics of a classic cluster into a diskless (object-storage) cluster: partition i to
    /// partition i under a byte throttle, an exact source→target offset map in the journal,
    /// verification of both sides, and a cutover that translates consumer groups through the map.
    /// Resumable (--journal), --verify, --cutover, --status.
    Diskless(Box<MigrateDisklessArgs>),
}

#[derive(Debug, Args)]
pub struct MigrateDisklessArgs {
    /// The cluster to copy from: host:port[,host:port...].
    #[arg(long, value_name = "HOST:PORT", required_unless_present = "status")]
    pub source_bootstrap: Option<String>,
    /// Client properties for the source (security.protocol, sasl.*, ssl.*), as the Kafka tools take.
    #[arg(long, value_name = "FILE")]
    pub source_command_config: Option<PathBuf>,
    /// The diskless cluster to copy into.
    #[arg(long, value_name = "HOST:PORT", required_unless_present = "status")]
    pub target_bootstrap: Option<String>,
    /// Client properties for the target.
    #[arg(long, value_name = "FILE")]
    pub target_command_config: Option<PathBuf>,
    /// Topics to copy (regular expression; internal topics never match). A re-run may widen it.
    #[arg(long, value_name = "REGEX", required_unless_present_any = ["status", "verify", "cutover", "cancel"])]
    pub topics: Option<String>,
    /// Payload bytes per second over all partitions (key, value, headers), e.g. 100MiB/s;
    /// unthrottled when absent. With --engine connect: a consumer_byte_rate quota on the source
    /// for the connector's consumers (fetched bytes), split over the partitions' leaders and
    /// restored afterwards.
    #[arg(long, value_name = "RATE")]
    pub throttle: Option<String>,
    /// At most this many partitions read at once.
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub max_partitions_in_flight: u64,
    /// Copy compacted topics too (their compacted view: values compaction removed are not copied).
    #[arg(long)]
    pub allow_compacted: bool,
    /// The migration journal: offset map, verification, cutover state (resumed when present).
    #[arg(
        long,
        value_name = "FILE",
        default_value = ".streamctl/migrate-diskless.json"
    )]
    pub journal: PathBuf,
    /// Show the plan (topics, partitions, bytes, time at the throttle) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Apply without asking (scripts, CI).
    #[arg(long)]
    pub yes: bool,
    /// Verify what is copied (record counts and hashes, both sides in step); exit 4 on a difference.
    #[arg(long, conflicts_with_all = ["cutover", "dry_run"])]
    pub verify: bool,
    /// Cut over: wait for the groups to stop on the source, copy the tail, verify, translate and
    /// commit their offsets on the target (only while each target group is empty).
    #[arg(long, requires = "groups", conflicts_with = "dry_run")]
    pub cutover: bool,
    /// With --cutover: the consumer groups to translate (regular expression).
    #[arg(long, value_name = "REGEX")]
    pub groups: Option<String>,
    /// With --cutover: also wait until the source topics' high watermarks stop moving.
    #[arg(long, requires = "cutover")]
    pub wait_for_producers_stopped: bool,
    /// With --cutover: how long to wait for the source to stop (e.g. 10m).
    #[arg(long, value_name = "DURATION", default_value = "10m")]
    pub wait_timeout: String,
    /// Give up when no record is read and none acknowledged for this long (e.g. 2m).
    #[arg(long, value_name = "DURATION", default_value = "2m")]
    pub stall_timeout: String,
    /// Print the journal's state and exit (no connection).
    #[arg(long, conflicts_with_all = ["verify", "cutover", "dry_run"])]
    pub status: bool,
    /// Who copies: `builtin` (this process) or `connect` (a MirrorMaker 2 source connector on the
    /// Kafka Connect cluster at --connect-url). Default: the journal's engine, else builtin.
    #[arg(long, value_enum)]
    pub engine: Option<CopyEngineArg>,
    /// With --engine connect: one worker's REST URL, e.g. http://connect:8083 or
    /// https://connect:8443.
    #[arg(long, value_name = "URL", env = "STREAMCTL_CONNECT_URL")]
    pub connect_url: Option<String>,
    /// With an https:// --connect-url: the PEM CA bundle to check the worker's certificate
    /// against (default: the system's roots).
    #[arg(long, value_name = "FILE", env = "STREAMCTL_CONNECT_CA_FILE")]
    pub connect_ca_file: Option<PathBuf>,
    /// The Connect REST API's basic-auth credentials: a file whose first line is user:password
    /// (or set STREAMCTL_CONNECT_USERNAME and STREAMCTL_CONNECT_PASSWORD).
    #[arg(long, value_name = "FILE", env = "STREAMCTL_CONNECT_CREDENTIALS_FILE")]
    pub connect_credentials_file: Option<PathBuf>,
    /// With --engine connect: the connector's name (kept in the journal).
    #[arg(
        long,
        value_name = "NAME",
        default_value = "streamctl-migrate-diskless"
    )]
    pub connector: String,
    /// With --engine connect: at most this many tasks (they are sized to the partitions).
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub connect_max_tasks: u32,
    /// With --engine connect: print the connector config (JSON, secrets masked) after preflight
    /// and change nothing (for connectors deployed through GitOps).
    #[arg(long, conflicts_with_all = ["verify", "cutover", "status", "cancel"])]
    pub emit_config: bool,
    /// With --engine connect: delete the connector and restore the source quota; the journal and
    /// the copied data stay.
    #[arg(long, conflicts_with_all = ["verify", "cutover", "status", "dry_run"])]
    pub cancel: bool,
    /// Keep copying what producers write to the source until stopped (Ctrl-C or SIGTERM: the
    /// batch in flight is acknowledged, the journal saved, exit 0); every round is verified.
    /// Built-in engine.
    #[arg(long, conflicts_with_all = ["verify", "cutover", "status", "dry_run", "cancel", "emit_config"])]
    pub follow: bool,
    /// With --follow: how long to wait after catching up before reading the source's ends again.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "1s",
        requires = "follow"
    )]
    pub follow_interval: String,
    /// With --follow: consumer groups whose offsets are kept translated on the target (only while
    /// they have no members there), so each can move to the target on its own, at any moment.
    #[arg(long, value_name = "REGEX", requires = "follow")]
    pub sync_groups: Option<String>,
    /// With --follow: how often the groups (--sync-groups) are synced and the source's topic
    /// configs compared (added partitions and deleted topics are looked for every round).
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "30s",
        requires = "follow"
    )]
    pub sync_interval: String,
    #[command(flatten)]
    pub metrics: MetricsArgs,
}

/// `migrate diskless --engine`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CopyEngineArg {
    Builtin,
    Connect,
}

#[derive(Debug, Args)]
pub struct MigrateTieredArgs {
    /// The cluster: host:port[,host:port...].
    #[arg(long, value_name = "HOST:PORT", required_unless_present = "status")]
    pub bootstrap_server: Option<String>,
    #[command(flatten)]
    pub security: KafkaSecurity,
    /// Topics to migrate (regular expression; internal topics never match).
    #[arg(long, value_name = "REGEX", required_unless_present_any = ["status", "rollback"])]
    pub topics: Option<String>,
    /// Keep this much time of data on local disk once tiered, e.g. 4h (local.retention.ms).
    #[arg(
        long,
        value_name = "DURATION",
        required_unless_present_any = ["local_retention_bytes", "status", "rollback"],
        conflicts_with = "local_retention_bytes"
    )]
    pub local_retention: Option<String>,
    /// Keep this many bytes per partition on local disk once tiered (local.retention.bytes).
    #[arg(long, value_name = "SIZE")]
    pub local_retention_bytes: Option<String>,
    /// Upload rate per broker while migrating (KIP-956 remote.log.manager.copy.max.bytes.per.second,
    /// restored afterwards).
    #[arg(long, value_name = "RATE", default_value = "50MiB/s")]
    pub tier_throttle: String,
    /// At most this many topics per wave (waves go smallest first).
    #[arg(long, value_name = "N", conflicts_with = "wave_bytes")]
    pub wave_topics: Option<usize>,
    /// At most this many bytes uploaded per wave (a larger topic is a wave of its own).
    #[arg(long, value_name = "SIZE")]
    pub wave_bytes: Option<String>,
    /// Set segment.bytes on the migrated topics (seed 003 recommends 100MiB); new segments only.
    #[arg(long, value_name = "SIZE")]
    pub set_segment_bytes: Option<String>,
    /// After tiering, move every replica off these brokers (comma-separated ids).
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    pub drain_brokers: Vec<i32>,
    /// Replication throttle per broker for the drain.
    #[arg(long, value_name = "RATE", default_value = "50MiB/s")]
    pub throttle: String,
    /// The migration journal (resumed when it holds an unfinished migration; the drain's
    /// reassignment journal sits beside it as NAME.drain.json).
    #[arg(
        long,
        value_name = "FILE",
        default_value = ".streamctl/migrate-tiered.json"
    )]
    pub journal: PathBuf,
    /// Show the plan (waves, uploads, times, local bytes per broker, the drain) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Apply without asking (scripts, CI).
    #[arg(long)]
    pub yes: bool,
    /// Print the journal's state and exit (no connection).
    #[arg(long, conflicts_with_all = ["rollback", "dry_run"])]
    pub status: bool,
    /// Stop uploads without losing data: migrated topics become read-only tiered
    /// (remote.log.copy.disable=true, local retention back to the topic's retention).
    #[arg(long, conflicts_with = "dry_run")]
    pub rollback: bool,
    /// With --rollback: turn tiering off and DELETE the remote copies (records only in the
    /// remote store become unreadable). Needs --yes.
    #[arg(long, requires = "rollback")]
    pub delete_remote_data: bool,
    /// How often to poll while a wave runs, in milliseconds.
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u64).range(50..=60_000))]
    pub poll_ms: u64,
    /// Stop with an error when a wave makes no progress for this long (e.g. 10m).
    #[arg(long, value_name = "DURATION", default_value = "10m")]
    pub stall_timeout: String,
    /// Drain: at most this many moves in flight per broker.
    #[arg(long, default_value_t = 2)]
    pub max_concurrent_moves_per_broker: usize,
    #[command(flatten)]
    pub metrics: MetricsArgs,
}
