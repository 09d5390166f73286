// The revalidation webhook: a CMS posts {"secret": "...", "tags": [...]} or {"paths": [...]}
// here when content changes; this purges those pages from isr (soft: the old page is
// served while one regeneration runs).
import type { APIRoute } from 'astro';
import { purge } from '../../isr/purge.mjs';

export const POST: APIRoute = async ({ request }) => {
  const body = await request.json().catch(() => ({}));
  if (!process.env.WEBHOOK_SECRET || body.secret !== process.env.WEBHOOK_SECRET) {
    return new Response('wrong secret', { status: 401 });
  }
  const purged = await purge({ tags: body.tags, paths: body.paths });
  return Response.json(purged, { headers: { 'cache-control': 'no-store' } });
};
