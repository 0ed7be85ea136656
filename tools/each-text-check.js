// Build-time check of every {{#eachText}} block (src/targets/base.ts): the
// helper renders its block once and puts each item where {{this}} is, which
// is what {{#each}} gives only when the block uses the item exactly once, as
// a plain {{this}}, and nothing else in it depends on the item. Anything
// else is refused here, at build time, with the template and line.
'use strict';

/** Problems of the eachText blocks of one template's source: strings "LINE: what". */
function eachTextProblems(Handlebars, source) {
  const problems = [];
  const visit = (node) => {
    if (!node || typeof node !== 'object') return;
    if (node.type === 'BlockStatement' && node.path.original === 'eachText') {
      const line = node.loc.start.line;
      let items = 0;
      for (const s of node.program.body) {
        if (s.type === 'ContentStatement' || s.type === 'CommentStatement') continue;
        const plainThis = s.type === 'MustacheStatement' && s.path.type === 'PathExpression' && s.path.original === 'this' && !s.params.length && !s.hash;
        // An item-independent value: a parent's field, no helper call.
        const parentField = s.type === 'MustacheStatement' && s.path.type === 'PathExpression' && s.path.depth > 0 && !s.params.length && !s.hash;
        if (plainThis) items++;
        else if (!parentField) problems.push(`${line}: an eachText block holds only text, one plain {{this}} and parent fields ({{../name}}); use {{#each}} for anything else`);
      }
      if (items !== 1) problems.push(`${line}: an eachText block uses {{this}} exactly once (it has ${items})`);
      if (node.inverse) for (const s of node.inverse.body) visit(s);
      return;
    }
    for (const key of ['body', 'program', 'inverse']) {
      const v = node[key];
      if (Array.isArray(v)) v.forEach(visit);
      else visit(v);
    }
  };
  visit(Handlebars.parse(source));
  return problems;
}

module.exports = { eachTextProblems };
