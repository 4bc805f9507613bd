import pino from 'pino';

/** A pino logger. Child loggers carry extra bound fields (`log.child({ key })`). */
export type Logger = pino.Logger;

/** Accepted `--log-level` values (pino levels). */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
/** One of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Component name, written as `component` on every line. */
  component: string;
  /** Minimum level; default "info". */
  level?: LogLevel;
  /** Where lines go; default stdout (fd 1), written synchronously so nothing is lost on exit. */
  destination?: pino.DestinationStream;
}

/**
 * Creates the JSON-lines logger of a component: one object per line with `time` (RFC 3339 UTC,
 * milliseconds), `level` (the level name, e.g. "info"), `msg`, `component`, plus bound fields.
 * Errors logged as `{ err }` are serialised with type, message and stack.
 */
export function createLogger(opts: LoggerOptions): Logger {
  return pino(
    {
      level: opts.level ?? 'info',
      base: { component: opts.component },
      messageKey: 'msg',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: {
        err: pino.stdSerializers.err,
        error: pino.stdSerializers.err,
      },
    },
    opts.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

/** A logger that discards everything (default for runtime parts built without a logger). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
