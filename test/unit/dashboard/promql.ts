// The names a PromQL expression uses: metric selectors with their label matchers, and the labels
// of grouping and vector-matching clauses (by, without, on, ignoring, group_left, group_right).
// A tokenizer, not a full parser: enough to tell which series and labels a query depends on.
// Grafana's variables ($node, ${node}, $__rate_interval) are tokens of their own.

export interface Selector {
  metric: string;
  matchers: Array<{ label: string; op: string; value: string }>;
}

export interface QueryNames {
  selectors: Selector[];
  /** Labels named in by/without/on/ignoring/group_left/group_right clauses. */
  groupingLabels: string[];
}

const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'atan2']);
const GROUPING = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const AGGREGATIONS = new Set(['sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile', 'limitk', 'limit_ratio']);

type Token = { kind: 'ident' | 'string' | 'number' | 'duration' | 'variable' | 'op' | 'punct'; text: string };

export function tokenize(expr: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const take = (kind: Token['kind'], end: number) => {
    tokens.push({ kind, text: expr.slice(i, end) });
    i = end;
  };
  while (i < expr.length) {
    const rest = expr.slice(i);
    const c = expr[i]!;
    if (/\s/.test(c)) { i++; continue; }
    if (c === '#') { const nl = expr.indexOf('\n', i); i = nl === -1 ? expr.length : nl; continue; }
    if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      while (j < expr.length && expr[j] !== c) j += expr[j] === '\\' && c !== '`' ? 2 : 1;
      if (j >= expr.length) throw new Error(`unterminated string in ${JSON.stringify(expr)}`);
      tokens.push({ kind: 'string', text: expr.slice(i + 1, j) });
      i = j + 1;
      continue;
    }
    let m: RegExpExecArray | null;
    if ((m = /^\$\{[A-Za-z_][A-Za-z0-9_]*(?::[a-z]+)?\}|^\$[A-Za-z_][A-Za-z0-9_]*/.exec(rest))) { take('variable', i + m[0].length); continue; }
    if ((m = /^[0-9]+(?:ms|[smhdwy])(?:[0-9]+(?:ms|[smhdwy]))*/.exec(rest))) { take('duration', i + m[0].length); continue; }
    if ((m = /^(?:0x[0-9a-fA-F]+|[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)/.exec(rest))) { take('number', i + m[0].length); continue; }
    if ((m = /^[A-Za-z_:][A-Za-z0-9_:]*/.exec(rest))) { take('ident', i + m[0].length); continue; }
    if ((m = /^(?:==|!=|=~|!~|<=|>=|[-+*/%^<>=])/.exec(rest))) { take('op', i + m[0].length); continue; }
    if ('(){}[],:@'.includes(c)) { take('punct', i + 1); continue; }
    throw new Error(`unexpected ${JSON.stringify(c)} at ${i} in ${JSON.stringify(expr)}`);
  }
  return tokens;
}

export function namesIn(expr: string): QueryNames {
  const tokens = tokenize(expr);
  const selectors: Selector[] = [];
  const groupingLabels: string[] = [];
  const labelList = (start: number): number => {
    // tokens[start] is '(': identifiers until ')'.
    let j = start + 1;
    for (; j < tokens.length && tokens[j]!.text !== ')'; j++) {
      if (tokens[j]!.kind === 'ident') groupingLabels.push(tokens[j]!.text);
      else if (tokens[j]!.text !== ',') throw new Error(`unexpected ${tokens[j]!.text} in a label list of ${JSON.stringify(expr)}`);
    }
    return j;
  };
  const matchers = (start: number, selector: Selector): number => {
    // tokens[start] is '{': label op "value" [, ...] until '}'.
    let j = start + 1;
    while (j < tokens.length && tokens[j]!.text !== '}') {
      if (tokens[j]!.text === ',') { j++; continue; }
      const [label, op, value] = [tokens[j], tokens[j + 1], tokens[j + 2]];
      if (label?.kind !== 'ident' || op?.kind !== 'op' || value?.kind !== 'string') throw new Error(`bad label matcher in ${JSON.stringify(expr)}`);
      selector.matchers.push({ label: label.text, op: op.text, value: value.text });
      j += 3;
    }
    return j;
  };
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    const next = tokens[i + 1];
    if (token.kind === 'ident' && GROUPING.has(token.text)) {
      if (next?.text === '(') i = labelList(i + 1);
      continue;
    }
    if (token.kind === 'punct' && token.text === '{') {
      // A selector without a metric name ({__name__=~"..."}): not used by pidguard's queries.
      const selector: Selector = { metric: '', matchers: [] };
      i = matchers(i, selector);
      selectors.push(selector);
      continue;
    }
    if (token.kind !== 'ident' || KEYWORDS.has(token.text)) continue;
    if (next?.text === '(') continue; // a function or an aggregation
    if (AGGREGATIONS.has(token.text) && (next?.text === 'by' || next?.text === 'without')) continue;
    const selector: Selector = { metric: token.text, matchers: [] };
    if (next?.text === '{') i = matchers(i + 1, selector);
    selectors.push(selector);
  }
  return { selectors, groupingLabels };
}

/** Grafana's `label_values(metric, label)` / `label_values(label)` variable query. */
export function labelValuesQuery(query: string): { selector?: Selector; label: string } {
  const match = /^label_values\((.*)\)$/s.exec(query.trim());
  if (!match) throw new Error(`not a label_values() query: ${query}`);
  const args = match[1]!;
  const comma = args.lastIndexOf(',');
  if (comma === -1) return { label: args.trim() };
  const { selectors } = namesIn(args.slice(0, comma));
  if (selectors.length !== 1) throw new Error(`label_values() needs one selector: ${query}`);
  return { selector: selectors[0]!, label: args.slice(comma + 1).trim() };
}
