-- Parse many notes in one pandoc process: input is a JSON list of {id, text};
-- each text is parsed on its own (an unclosed fence cannot swallow the next note)
-- and returned as a Div with class "note" and that id.
local FORMAT = 'commonmark_x+wikilinks_title_after_pipe-emoji-yaml_metadata_block-alerts-smart'
local MARKUP = '[%*_`~=%[%$<\\]'
-- a wikilink whose label (after the pipe) carries markup; only such notes are walked,
-- because walking a document costs far more than parsing it
local LABEL_MARKUP = '%[%[[^%]\n]*|[^%]\n]*[%*`~=%$<]'

-- A raw HTML block (CommonMark keeps a block that opens with a tag, up to a blank line, as
-- HTML) that holds a timestamp is read as HTML, so that its stamps become citations as they do
-- in the text: pandoc's HTML reader makes each stamp a Span (a Link, with an href), given back
-- here in the shape the markdown reader gives a stamp. A block stays raw where the reader would
-- keep some of its block tags raw (each apart from the text it held), or where it nests deeper
-- than DEEPEST tags (the sanitizer flattens it; read, it would be too deep to export).
local STAMP = 'yt-timestamp'
local DEEPEST = 8  -- as structure.DIVS
local VOID = {area = 1, base = 1, br = 1, col = 1, embed = 1, hr = 1, img = 1, input = 1, link = 1,
              meta = 1, param = 1, source = 1, track = 1, wbr = 1}
local ESCAPED = {['&'] = '&amp;', ['"'] = '&quot;', ['<'] = '&lt;', ['>'] = '&gt;'}

local function nesting(html)
  local depth, most = 0, 0
  for close, name, selfclosed in html:gmatch('<(/?)(%a[%w:-]*)[^<>]-(/?)>') do
    if close == '/' then
      depth = math.max(0, depth - 1)
    elseif selfclosed == '' and not VOID[name:lower()] then
      depth = depth + 1
      most = math.max(most, depth)
    end
  end
  return most
end

local function as_stamp(el)
  if el.classes:includes(STAMP) then
    local t = (el.attributes['t'] or ''):gsub('[&"<>]', ESCAPED)
    local out = pandoc.Inlines({pandoc.RawInline('html', '<a class="' .. STAMP .. '" data-t="' .. t .. '">')})
    out:extend(el.content)
    out:insert(pandoc.RawInline('html', '</a>'))
    return out
  end
end

-- Whether a raw HTML block may start in text (in more places than it can): a line opening with
-- a tag after any quote or list markers, or a raw block of the raw_attribute kind. Only then is
-- the document walked (pandoc.py's RAW_HTML says the same).
local function may_hold_raw(text)
  return ('\n' .. text):find('\n[ \t>*+%-%d.)]*<') ~= nil or text:find('=html', 1, true) ~= nil
end

-- a table cell spans MAX_SPAN columns or rows at most (sanitize.py's MAX_SPAN): read with
-- colspan="1000000", a table of a million columns took pandoc past its memory
local MAX_SPAN = 100

local function spans_clamped(html)
  return (html:gsub('([Ss][Pp][Aa][Nn]%s*=%s*["\']?)%s*(%d+)', function(head, n)
    if #n > 5 or tonumber(n) > MAX_SPAN then return head .. MAX_SPAN end
  end))
end

local function stamped(raw)
  if (raw.format == 'html' or raw.format == 'html5') and raw.text:find(STAMP, 1, true)
      and nesting(raw.text) <= DEEPEST then
    local ok, doc = pcall(pandoc.read, spans_clamped(raw.text), 'html+raw_html')
    local kept = false  -- a block tag the reader does not know (details, summary...)
    if ok then
      doc:walk({RawBlock = function() kept = true end})
    end
    if ok and not kept then
      return doc:walk({Span = as_stamp, Link = as_stamp}).blocks
    end
  end
end

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
      if text:find(STAMP, 1, true) and may_hold_raw(text) then
        doc = doc:walk({RawBlock = stamped})
      end
      blocks[#blocks + 1] = pandoc.Div(doc.blocks, attr)
    else
      attr.attributes['error'] = tostring(doc)
      blocks[#blocks + 1] = pandoc.Div({}, attr)
    end
  end
  return pandoc.Pandoc(blocks)
end
