/** How to reach isr; each field defaults to its environment variable. */
export interface IsrClientOptions {
  /** isr's address (`ISR_URL`), e.g. `http://127.0.0.1:3000`. */
  url?: string;
  /** isr's admin token (`ISR_ADMIN_TOKEN`). */
  token?: string;
  /** Timeout of each call to isr, in ms (default 5000). */
  timeoutMs?: number;
  /** Where failures are reported (default `console.warn`), once until the call works again. */
  log?: (message: string) => void;
}

/** A data entry as isr answers it (`GET /_isr/data`). */
export interface DataEntry {
  key: string;
  value: string;
  tags: string[];
  /** When it counts as made, ms since the epoch. */
  created_at: number;
  revalidate: number | null;
  expire: number | null;
  /** `purged`: a soft purge of one of its tags (or of a tag the reader named) reached it. */
  state: 'fresh' | 'stale' | 'purged';
}

export type PurgeMode = 'soft' | 'hard';

/** The isr admin API calls the handlers make. Failures are reported and answered as "nothing". */
export declare class IsrClient {
  constructor(options?: IsrClientOptions);
  readonly url: string;
  get(key: string, tags?: string[]): Promise<DataEntry | null>;
  put(
    key: string,
    value: string,
    options?: { tags?: string[]; revalidate?: number; expire?: number; createdAt?: number },
  ): Promise<boolean>;
  remove(key: string): Promise<boolean>;
  attachTags(path: string, tags: string[]): Promise<boolean>;
  purge(tags: string[], mode: PurgeMode): Promise<boolean>;
  failed(what: string, detail: string): void;
}

/** JSON text of a value holding Buffers, typed arrays and Maps. */
export declare function encode(value: unknown): string;
/** The value `encode` was given. */
export declare function decode(text: string): unknown;
/** Next's revalidation durations as a purge mode: none or `{ expire: 0 }` is hard, else soft. */
export declare function purgeMode(durations?: { expire?: number }): PurgeMode;
/** Purge once, even when both handlers are told of the same revalidation. */
export declare function purgeOnce(client: IsrClient, tags: string[], mode: PurgeMode): Promise<boolean>;
/** One client per configuration in this process. */
export declare function sharedClient(options?: IsrClientOptions): IsrClient;
