// Added by ./integration.mjs: names the build and the route's tags on every answer.
/* global __ISR_BUILD_ID__ */
export async function onRequest(context, next) {
  const response = await next();
  const headers = response.headers;
  headers.set('x-isr-build', __ISR_BUILD_ID__);
  if (context.routePattern) {
    const tags = ['astro', `route:${context.routePattern}`];
    const existing = headers.get('x-isr-tags');
    headers.set('x-isr-tags', existing ? `${existing}, ${tags.join(', ')}` : tags.join(', '));
  }
  return response;
}
