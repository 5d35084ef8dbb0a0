-- Parse many notes in one pandoc process: input is a JSON list of {id, text};
-- each text is parsed on its own (an unclosed fence cannot swallow the next note)
-- and returned as a Div with class "note" and that id.
local FORMAT = 'commonmark_x+wikilinks_title_after_pipe-emoji-yaml_metadata_block-alerts-smart'
local MARKUP = '[%*_`~=%[%$<\\]'
-- a wikilink whose label (after the pipe) carries markup; only such notes are walked,
-- because walking a document costs far more than parsing it
local LABEL_MARKUP = '%[%[[^%]\n]*|[^%]\n]*[%*`~=%$<]'

-- pandoc keeps wikilink labels as literal text; parse labels that carry markup.
local function relabel(link)
  if link.classes:includes('wikilink') then
    local text = pandoc.utils.stringify(link.content)
    if text:find(MARKUP) then
      local ok, doc = pcall(pandoc.read, text, FORMAT)
      if ok and #doc.blocks == 1 and doc.blocks[1].content then
        link.content = doc.blocks[1].content
      end
    end
    return link
  end
end

function Reader(input, opts)
  local items = pandoc.json.decode(tostring(input), false)
  local blocks = {}
  for _, it in ipairs(items) do
    -- progress for the caller's watchdog: which note is being parsed now
    io.stderr:write('@@', it.id, '\n')
    io.stderr:flush()
    -- pandoc's own command line ends every input with a newline; without one, a note's last
    -- table row would be read as a paragraph
    local text = it.text
    if text:sub(-1) ~= '\n' then text = text .. '\n' end
    local ok, doc = pcall(pandoc.read, text, FORMAT)
    local attr = pandoc.Attr(it.id, {'note'})
    if ok then
      if text:find(LABEL_MARKUP) then
        doc = doc:walk({Link = relabel})
      end
      blocks[#blocks + 1] = pandoc.Div(doc.blocks, attr)
    else
      attr.attributes['error'] = tostring(doc)
      blocks[#blocks + 1] = pandoc.Div({}, attr)
    end
  end
  return pandoc.Pandoc(blocks)
end
