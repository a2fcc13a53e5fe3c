const replacements: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
}

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (ch) => replacements[ch] ?? ch)
}

/**
 * A tiny self-contained page. The broker's pages carry no inline style and no inline script
 * (but the end-session page's one, which its own CSP allows by hash).
 */
export function page(title: string, body: string, head = ''): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
${head}
<title>${escapeHtml(title)}</title>
</head>
<body>
${body}
</body>
</html>
`
}
