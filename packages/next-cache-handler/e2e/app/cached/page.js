// A dynamic page whose data comes from a `'use cache'` function: the page renders on every
// request, the data is shared by every instance through isr.
import { cachedData } from '../../lib/cached-data';

export const dynamic = 'force-dynamic';

export default async function Cached() {
  const value = await cachedData();
  return (
    <main>
      <p id="data">{`cached=${value}`}</p>
      <p id="instance">{`instance=${process.env.INSTANCE}`}</p>
    </main>
  );
}
