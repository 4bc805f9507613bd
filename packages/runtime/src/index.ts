/**
 * @kubeaws/runtime: the shared controller runtime of kubeaws components, following client-go and
 * controller-runtime semantics. See the README of this package for a wiring example.
 */
export {
  type Clock,
  type TimerHandle,
  realClock,
  MAX_TIMER_DELAY_MS,
  FakeClock,
  sleep,
  flushMicrotasks,
} from './clock.js';
export {
  ApiError,
  NotLeaderError,
  TerminalError,
  ConfigError,
  ExitError,
  type Status,
  type StatusCause,
  type ErrorClass,
  type ErrorClassification,
  classifyError,
  isNotFound,
  isConflict,
  isAlreadyExists,
  isGone,
  isInvalid,
  isForbidden,
  isNamespaceTerminating,
} from './errors.js';
export { ComponentMetrics, detachedMetrics } from './metrics.js';
export { BatchedHistogram, CounterChild, CounterChildren, HistogramChild } from './batched-metrics.js';
export { type Logger, type LogLevel, type LoggerOptions, LOG_LEVELS, createLogger, silentLogger } from './logging.js';
export {
  type RateLimiter,
  TokenBucket,
  ExponentialFailureRateLimiter,
  BucketRateLimiter,
  MaxOfRateLimiter,
  Backoff,
  defaultControllerRateLimiter,
} from './ratelimit.js';
export { WorkQueue, type WorkQueueOptions } from './workqueue.js';
export {
  KubeClient,
  type KubeClientOptions,
  type KubeObject,
  type ObjectMeta,
  type KubeList,
  type WatchEvent,
  type ResourceRef,
  type Verb,
  type AccessRecord,
  type RequestOptions,
  type WriteOptions,
  type DeleteOptions,
  type ListOptions,
  type PolicyRule,
  resourcePath,
  parseApiPath,
  rbacAllows,
} from './client.js';
export { Store, type ReadonlyStore, type IndexFunc, NAMESPACE_INDEX, objectKey, splitKey } from './cache.js';
export { Informer, type InformerOptions, type EventHandler, dropManagedFields } from './informer.js';
export {
  Controller,
  type ControllerOptions,
  type Reconciler,
  type ReconcileResult,
  type ReconcileContext,
  type Syncable,
  sameObjectAsKey,
} from './controller.js';
export {
  ControllerBuilder,
  type BuilderOptions,
  type Predicate,
  type Source,
  type MapFunc,
  type MapEvent,
  watchSource,
  generationChanged,
  annotationChanged,
  labelChanged,
  labelSelector,
  resourceVersionChanged,
  anyOf,
} from './builder.js';
export {
  type Labels,
  type LabelSelector,
  type LabelRequirement,
  labelRequirements,
  requirementHolds,
  isEmptySelector,
  matchesLabels,
  parseLabelSelector,
  LabelSelectorSyntaxError,
  LABEL_SELECTOR_FORMS,
} from './labels.js';
export {
  LeaderElector,
  type LeaderElectionOptions,
  type Lease,
  type LeaseSpec,
  type LeaseDecision,
  decideLease,
  defaultIdentity,
  microTime,
} from './leaderelection.js';
export {
  EventRecorder,
  type EventRecorderOptions,
  EventAggregator,
  type AggregationDecision,
  type EventInput,
  type EventType,
  type ObjectReference,
  objectReference,
} from './events.js';
export {
  ProbeServer,
  type ProbeServerOptions,
  type HealthCheck,
  type CheckReport,
  type ListeningAddresses,
  type BindAddress,
  parseBindAddress,
} from './server.js';
export { AnswerBatch } from './answer-batch.js';
export { ConnectionDrain } from './drain.js';
export { type ClusterConfig, Kubeconfig, KubeconfigError, SERVICE_ACCOUNT_DIR, loadDefaultKubeconfig } from './kubeconfig.js';
export {
  type FlagSpec,
  type FlagSpecs,
  type FlagValues,
  type ParseFlagsOptions,
  type ParsedFlags,
  type FlagSource,
  type SharedConfig,
  flag,
  parsers,
  parseFlagDuration,
  parseFlags,
  parseFlagsWithSources,
  sharedFlags,
  HelpDisplayed,
} from './flags.js';
export {
  Manager,
  type Runnable,
  type ManagerOptions,
  type ManagedInformerOptions,
  type MainContext,
  type RunMainOptions,
  loadClusterKubeConfig,
  KUBECONFIG_EXPECTED,
  runMain,
} from './manager.js';
export { type ClusterAccessSource, SERVICE_ACCOUNT_TOKEN_PATH, clusterAccessSource } from './cluster-access.js';
export {
  defineComponent,
  startComponent,
  runComponent,
  componentFlagSpecs,
  type Component,
  type ComponentClusterAccess,
  type ParseComponentOptions,
  type SharedFlagOverrides,
  type ComponentDefinition,
  type ComponentValues,
  type ConfigureContext,
  type SharedFlagSpecs,
  type ManagerSettings,
  type SetupContext,
  type StartComponentOptions,
  type RunningComponent,
} from './component.js';
// Units: durations (Go's time.ParseDuration grammar), CIDR blocks, Kubernetes quantities.
export {
  UnitError,
  type UnitResult,
  type DurationUnit,
  type DurationOptions,
  type FormatDurationOptions,
  MAX_DURATION_MS,
  parseDuration,
  tryParseDuration,
  durationExpected,
  formatDuration,
  type IpFamily,
  type Cidr,
  type CidrOptions,
  parseCidr,
  tryParseCidr,
  cidrContains,
  cidrsOverlap,
  QUANTITY_EXPECTED,
  parseQuantity,
  tryParseQuantity,
} from './units.js';
// AWS SDK v3 client settings shared by components (region, retries, user agent; endpoints from the SDK).
export {
  type AwsClientOptions,
  type AwsClientSettings,
  type AwsClientConfig,
  awsClientConfig,
  awsErrorCode,
} from './aws.js';
