// @ts-check
import { defineConfig } from 'astro/config';
import node from '@astrojs/node';
import isr from './src/isr/integration.mjs';

export default defineConfig({
  output: 'server',
  adapter: node({ mode: 'standalone' }),
  // Route tags and the build id on every answer, and a build id file isr watches.
  integrations: [isr()],
  // Astro trusts the Host (and X-Forwarded-Host) isr sends only for these: put your
  // domain here, or Astro.url says "localhost".
  security: {
    allowedDomains: [{ hostname: '127.0.0.1' }, { hostname: 'localhost' }],
  },
});
