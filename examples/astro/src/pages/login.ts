import type { APIRoute } from 'astro';

export const POST: APIRoute = async ({ request, cookies, redirect }) => {
  const form = await request.formData();
  cookies.set('session', String(form.get('user') || 'alice'), { path: '/', httpOnly: true, sameSite: 'lax' });
  return redirect('/account', 303);
};
