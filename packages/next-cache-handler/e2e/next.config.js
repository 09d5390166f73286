// The handlers named as an app names them: by package, through its `exports`.
const path = require('node:path');

/** @type {import('next').NextConfig} */
module.exports = {
  cacheHandler: require.resolve('@isr/next-cache-handler'),
  cacheHandlers: { default: require.resolve('@isr/next-cache-handler/use-cache') },
  // Next's own in-memory copy would hide what other instances changed.
  cacheMaxMemorySize: 0,
  experimental: { useCache: true },
  // The package is linked from the directory above (`file:..`).
  turbopack: { root: path.resolve(__dirname, '..') },
};
