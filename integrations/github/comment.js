#!/usr/bin/env node
// Helpers of action.yml's diff step, for the pull request comment:
//   comment.js heading PATH     a '### ' heading of PATH as inline markdown
//                               text (src/analysis/markdown.ts: no HTML,
//                               code, link, image, @mention or #ref of its own)
//   comment.js truncate FILE [LIMIT]
//                               cuts FILE in place to at most LIMIT
//                               characters (default 65000, under GitHub's
//                               65536 for a comment) at a line end, with a
//                               note saying so
'use strict';
const fs = require('fs');
const path = require('path');
const { markdownText } = require(path.join(__dirname, '..', '..', 'build', 'src', 'analysis', 'markdown.js'));

const NOTE = (n) => `\n\n**portcullis:** the comment is cut here (${n} more characters, GitHub's limit for a comment is 65536); the whole diff is in the job's log.\n`;

function truncate(md, limit) {
  if (md.length <= limit) return md;
  const budget = limit - NOTE(md.length).length;
  let cut = md.lastIndexOf('\n', budget);
  if (cut < 0) cut = 0;
  return md.slice(0, cut) + NOTE(md.length - cut);
}

function main([cmd, arg, limit]) {
if (cmd === 'heading') process.stdout.write(`### ${markdownText(arg)}\n`);
else if (cmd === 'truncate') fs.writeFileSync(arg, truncate(fs.readFileSync(arg, 'utf8'), Number(limit) || 65000));
else {
  process.stderr.write('usage: comment.js heading PATH | truncate FILE [LIMIT]\n');
  process.exitCode = 2;
}
}
if (require.main === module) main(process.argv.slice(2));
module.exports = { truncate };
