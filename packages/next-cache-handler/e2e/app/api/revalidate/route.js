// What an app's own webhook or admin action does: revalidateTag or revalidatePath.
import { revalidatePath, revalidateTag } from 'next/cache';

export const dynamic = 'force-dynamic';

export async function POST(request) {
  const url = new URL(request.url);
  const tag = url.searchParams.get('tag');
  const path = url.searchParams.get('path');
  if (tag) {
    revalidateTag(tag, url.searchParams.get('profile') === 'max' ? 'max' : { expire: 0 });
  }
  if (path) {
    revalidatePath(path, url.searchParams.get('type') || undefined);
  }
  return Response.json({ revalidated: true, tag, path });
}
