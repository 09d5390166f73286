import type { IsrClientOptions } from './lib/client';

export type { IsrClientOptions, DataEntry, PurgeMode } from './lib/client';

/** What Next's incremental cache reads back (its `CacheHandlerValue`). */
export interface CacheHandlerValue {
  lastModified: number;
  value: any;
  cacheControl?: { revalidate: number | false; expire: number | undefined };
}

/**
 * Next's incremental cache handler (`cacheHandler` in next.config): pages, route handlers
 * and fetch data shared through isr; `revalidateTag`/`revalidatePath` purge isr everywhere.
 */
declare class IsrCacheHandler {
  constructor(context?: unknown, options?: IsrClientOptions);
  get(key: string, ctx?: { kind?: string; tags?: string[]; softTags?: string[] }): Promise<CacheHandlerValue | null>;
  set(key: string, data: any, ctx?: any): Promise<void>;
  revalidateTag(tags: string | string[], durations?: { expire?: number }): Promise<void>;
  resetRequestCache(): void;
}

declare namespace IsrCacheHandler {
  export { IsrCacheHandler, IsrCacheHandler as default };
  /** The request path of a page's cache key, or null. */
  export function pagePath(key: string): string | null;
}

export = IsrCacheHandler;
