// CI gate over a cache-tests run of isr: no required test may fail (except those listed,
// each with its reason, in known-required-failures.txt next to this file), and every test
// listed in expected-pass.txt (what passed when the list was last recorded) must still pass.
//
//   node check.mjs SUMMARY_JSON EXPECTED_PASS_TXT [SYSTEM]
//
// SUMMARY_JSON is summarize.mjs's summary.json; SYSTEM defaults to isr. Exits 1 with the
// offending test ids, 0 otherwise; prints the totals either way.

import fs from 'fs'
import path from 'path'
import { fileURLToPath } from 'url'

const [summaryFile, expectedFile, sys = 'isr'] = process.argv.slice(2)
if (!summaryFile || !expectedFile) {
  console.error('usage: node check.mjs SUMMARY_JSON EXPECTED_PASS_TXT [SYSTEM]')
  process.exit(2)
}
const summary = JSON.parse(fs.readFileSync(summaryFile, 'utf8'))
const expected = fs.readFileSync(expectedFile, 'utf8')
  .split('\n').map(line => line.trim()).filter(line => line && !line.startsWith('#'))
const byId = new Map(summary.perTest.map(row => [row.id, row.sys[sys]]))

const knownFile = path.join(path.dirname(fileURLToPath(import.meta.url)), 'known-required-failures.txt')
const known = new Set(fs.readFileSync(knownFile, 'utf8')
  .split('\n').map(line => line.split('#')[0].trim()).filter(Boolean))
const failed = summary.perTest
  .filter(row => row.sys[sys].cat === 'fail' && !known.has(row.id))
  .map(row => row.id)
const regressed = expected.filter(id => byId.get(id)?.cat !== 'pass')
const t = summary.totals[sys]
console.log(`${sys}: ${t.pass} pass, ${t.fail} required fail, ${t.optional_fail} optimal fail, ${t.dependency_fail} not run (dependency)`)
if (failed.length) console.error(`required tests failing: ${failed.join(', ')}`)
if (regressed.length) console.error(`tests that passed before and do not now: ${regressed.join(', ')}`)
process.exit(failed.length || regressed.length ? 1 : 0)
