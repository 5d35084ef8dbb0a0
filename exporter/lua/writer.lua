-- Write many documents in one pandoc process: every top-level Div with class "note"
-- is written on its own (its own footnote numbering) in the format named by the
-- metadata field "format"; the result is a JSON list of strings.
function Writer(doc, opts)
  local format = pandoc.utils.stringify(doc.meta.format)
  local out = {}
  for _, div in ipairs(doc.blocks) do
    local sub = pandoc.Pandoc(div.content, {})
    out[#out + 1] = pandoc.write(sub, format, opts)
  end
  return pandoc.json.encode(out)
end
