// cli.mjs: the bench scripts' command-line parsing — node:util parseArgs with --help / -h (the usage on
// stdout, exit 0) and, for an unknown option or a bad value, the script's name, the problem and the usage
// on stderr with exit 2 instead of parseArgs' stack trace.

import path from 'node:path';
import {parseArgs} from 'node:util';

export function parseCli(usage, options, args = process.argv.slice(2), extra = {}) {
    const end = args.indexOf('--');  // after '--' everything is a positional, even '--help'
    const flags = end < 0 ? args : args.slice(0, end);
    if (flags.includes('--help') || flags.includes('-h')) {
        console.log(usage);
        process.exit(0);
    }
    try {
        return parseArgs({args, options, ...extra}).values;
    } catch (e) {
        console.error(`${path.basename(process.argv[1] ?? 'node')}: ${e.message}\n${usage}`);
        process.exit(2);
    }
}
