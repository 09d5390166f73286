// A `'use cache'` function tagged `cached`. In a module of its own: Next keys its entries
// by the environment variables the module reads, and this one reads only DATA_URL (the
// same on every instance), so every instance shares one entry.
import { cacheTag } from 'next/cache';

export async function cachedData() {
  'use cache';
  cacheTag('cached');
  const answer = await fetch(`${process.env.DATA_URL}/cached`);
  return answer.text();
}
