// An Astro integration for isr (https://example.invalid/isr):
// - every build gets a build id; every answer names it in `x-isr-build` (isr.toml:
//   build_id_header = "x-isr-build"), and `astro build` writes it to dist/isr-build-id
//   (isr.toml: build_id_file = "dist/isr-build-id"), which isr watches: a deploy needs no
//   manual build id and no isr restart;
// - every page answer carries its route tags in `x-isr-tags` (`astro`, `route:<pattern>`),
//   so a webhook can purge every page of a route (see ./purge.mjs).
import { writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';

export default function isr() {
  const buildId = process.env.ISR_BUILD_ID || `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  return {
    name: 'isr',
    hooks: {
      'astro:config:setup': ({ updateConfig, addMiddleware }) => {
        updateConfig({ vite: { define: { __ISR_BUILD_ID__: JSON.stringify(buildId) } } });
        addMiddleware({ entrypoint: new URL('./middleware.mjs', import.meta.url), order: 'pre' });
      },
      'astro:build:done': async ({ dir, logger }) => {
        // dist/client/ is `dir`; the id goes next to it, out of what is served.
        const file = new URL('../isr-build-id', dir);
        await writeFile(file, `${buildId}\n`);
        logger.info(`isr build id ${buildId} written to ${file.pathname}`);
      },
    },
  };
}
