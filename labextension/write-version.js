// Writes labextension/src/version.ts from package.json's version, the one place the version
// is written (CONTRIBUTING.md#the-version). package.json's scripts run it before tsc and jest;
// the file it writes is not tracked.
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const { version } = JSON.parse(
  fs.readFileSync(path.join(root, 'package.json'), 'utf8')
);
// The sidebar compares its version with the server's (GET info), which Python spells without
// the dash of npm's pre-releases: 1.2.3-rc1 is 1.2.3rc1 there (hatch-nodejs-version). Only
// the forms where dropping the dash is the whole translation are accepted.
if (!/^\d+\.\d+\.\d+(-(a|b|rc)\d+)?$/.test(version)) {
  console.error(
    `package.json: "version" is ${JSON.stringify(version)}; write it as MAJOR.MINOR.PATCH ` +
      '("1.2.3"), or a pre-release of one: -aN, -bN or -rcN ("1.2.3-rc1").'
  );
  process.exit(1);
}
const target = path.join(root, 'labextension', 'src', 'version.ts');
const text =
  '// Written by labextension/write-version.js from package.json: change the version there.\n' +
  "/** The version of this labextension as Python spells it; the server's GET info must match it. */\n" +
  `export const VERSION = '${version.replace('-', '')}';\n`;
// unchanged: leave the file alone, so that tsc -w and webpack do not rebuild for nothing
if (!fs.existsSync(target) || fs.readFileSync(target, 'utf8') !== text) {
  fs.writeFileSync(target, text);
}
