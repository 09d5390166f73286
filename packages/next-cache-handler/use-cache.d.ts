import type { IsrClientOptions } from './lib/client';

/** Next 16's `'use cache'` handler interface (`cacheHandlers` in next.config). */
export interface CacheEntry {
  value: ReadableStream<Uint8Array>;
  tags: string[];
  stale: number;
  timestamp: number;
  expire: number;
  revalidate: number;
}

export interface UseCacheHandler {
  get(cacheKey: string, softTags: string[]): Promise<undefined | CacheEntry>;
  set(cacheKey: string, pendingEntry: Promise<CacheEntry>): Promise<void>;
  refreshTags(): Promise<void>;
  getExpiration(tags: string[]): Promise<number>;
  updateTags(tags: string[], durations?: { expire?: number }): Promise<void>;
}

declare const handler: UseCacheHandler & {
  default: UseCacheHandler;
  /** A handler with its own options (the default one reads ISR_URL and ISR_ADMIN_TOKEN). */
  createUseCacheHandler(options?: IsrClientOptions): UseCacheHandler;
};

export = handler;
