// Purge pages from isr through its admin API (POST /_isr/revalidate). ISR_URL is where
// isr listens (seen from this server), ISR_ADMIN_TOKEN its --admin-token.
export async function purge({ tags, paths, hard = false }) {
  const url = process.env.ISR_URL ?? 'http://127.0.0.1:8080';
  const token = process.env.ISR_ADMIN_TOKEN;
  if (!token) throw new Error('ISR_ADMIN_TOKEN is not set');
  const body = { mode: hard ? 'hard' : 'soft' };
  if (tags?.length) body.tags = tags;
  if (paths?.length) body.paths = paths;
  const answer = await fetch(`${url}/_isr/revalidate`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!answer.ok) throw new Error(`isr purge: ${answer.status} ${await answer.text()}`);
  return answer.json();
}
