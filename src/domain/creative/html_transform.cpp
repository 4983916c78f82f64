#include "html_transform.hpp"

#include <gumbo.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <memory>
#include <vector>

#include "detect.hpp"
#include "kargo/core/error.hpp"

namespace kargo::domain::detail {
namespace {

constexpr int kMaxNoscriptReparse = 4;  // noscript text re-parsed inside noscript text, and so on

struct Cut {
  size_t begin = 0;
  size_t end = 0;
};

// Gumbo allocates every node, vector and string buffer separately and frees them one by one in
// gumbo_destroy_output: malloc/free were a fifth of a runway transform. A parse's memory lives
// exactly as long as the parse, so an arena serves it: allocation is a pointer bump, freeing is a
// no-op, and the whole tree goes at once (gumbo_destroy_output is not needed). Gumbo 0.10 never
// reallocates (it allocates, copies and frees), so a bump allocator is all it needs. The first
// block is kept per thread between parses; larger inputs fall back to malloc so that a hostile
// 1 MiB snippet cannot make a worker keep a large arena.
class GumboArena {
 public:
  static constexpr size_t kBlockBytes = 256 * 1024;
  static constexpr size_t kMaxInputBytes = 64 * 1024;  // larger snippets use malloc/free

  GumboArena() = default;
  GumboArena(const GumboArena&) = delete;
  GumboArena& operator=(const GumboArena&) = delete;

  void* allocate(size_t size) {
    size = (size + kAlign - 1) & ~(kAlign - 1);
    if (size > kBlockBytes / 4) return big(size);
    if (used_ + size > capacity_) next_block();
    void* p = current_ + used_;
    used_ += size;
    return p;
  }

  // Keeps the first block for the next parse, frees the rest.
  void reset() {
    extra_.clear();
    current_ = first_.get();
    capacity_ = first_ ? kBlockBytes : 0;
    used_ = 0;
  }

  static void* allocate_fn(void* self, size_t size) { return static_cast<GumboArena*>(self)->allocate(size); }
  static void free_fn(void*, void*) {}

 private:
  static constexpr size_t kAlign = alignof(std::max_align_t);

  void next_block() {
    if (!first_) {
      first_ = std::make_unique<std::byte[]>(kBlockBytes);
      current_ = first_.get();
    } else {
      extra_.push_back(std::make_unique<std::byte[]>(kBlockBytes));
      current_ = extra_.back().get();
    }
    capacity_ = kBlockBytes;
    used_ = 0;
  }
  void* big(size_t size) {
    extra_.push_back(std::make_unique<std::byte[]>(size));
    return extra_.back().get();
  }

  std::unique_ptr<std::byte[]> first_;
  std::vector<std::unique_ptr<std::byte[]>> extra_;
  std::byte* current_ = nullptr;
  size_t capacity_ = 0;
  size_t used_ = 0;
};

// Owns one gumbo parse: arena-backed for small inputs, malloc-backed otherwise.
class GumboParse {
 public:
  GumboParse(std::string_view text, GumboOptions options, bool use_arena) : options_(options) {
    if (use_arena && text.size() <= GumboArena::kMaxInputBytes) {
      arena_ = &thread_arena();
      options_.allocator = &GumboArena::allocate_fn;
      options_.deallocator = &GumboArena::free_fn;
      options_.userdata = arena_;
    }
    out_ = gumbo_parse_with_options(&options_, text.data(), text.size());
  }
  ~GumboParse() {
    if (arena_) {
      arena_->reset();
    } else if (out_) {
      gumbo_destroy_output(&options_, out_);
    }
  }
  GumboParse(const GumboParse&) = delete;
  GumboParse& operator=(const GumboParse&) = delete;

  const GumboNode* root() const { return out_->root; }

 private:
  // One arena per thread; a nested parse (noscript text re-parsed while its parent's tree is
  // still walked) must not reset it, so nested parses pass use_arena = false.
  static GumboArena& thread_arena() {
    thread_local GumboArena arena;
    return arena;
  }

  GumboOptions options_;
  GumboArena* arena_ = nullptr;
  GumboOutput* out_ = nullptr;
};

// Elements whose content gumbo keeps as text: an IAS mention in that text makes the whole element
// IAS (an inline script that builds an IAS URL, a style that loads an IAS background...).
bool is_raw_text(GumboTag tag) {
  switch (tag) {
    case GUMBO_TAG_SCRIPT:
    case GUMBO_TAG_STYLE:
    case GUMBO_TAG_XMP:
    case GUMBO_TAG_IFRAME:
    case GUMBO_TAG_NOEMBED:
    case GUMBO_TAG_NOFRAMES:
    case GUMBO_TAG_TEXTAREA:
    case GUMBO_TAG_TITLE:
    case GUMBO_TAG_PLAINTEXT:
      return true;
    default:
      return false;
  }
}

bool is_text_node(const GumboNode* n) {
  return n->type == GUMBO_NODE_TEXT || n->type == GUMBO_NODE_WHITESPACE || n->type == GUMBO_NODE_CDATA;
}

bool text_mentions_ias(const GumboText& t) {
  return mentions_ias(std::string_view(t.original_text.data, t.original_text.length)) ||
         (t.text && mentions_ias(t.text));
}

bool attributes_mention_ias(const GumboElement& e) {
  for (unsigned i = 0; i < e.attributes.length; ++i) {
    const auto* a = static_cast<const GumboAttribute*>(e.attributes.data[i]);
    if (mentions_ias(a->name) || mentions_ias(a->value) ||
        mentions_ias(std::string_view(a->original_value.data, a->original_value.length))) {
      return true;
    }
  }
  return false;
}

bool raw_text_mentions_ias(const GumboElement& e) {
  if (!is_raw_text(e.tag)) return false;
  for (unsigned i = 0; i < e.children.length; ++i) {
    const auto* child = static_cast<const GumboNode*>(e.children.data[i]);
    if (is_text_node(child) && text_mentions_ias(child->v.text)) return true;
  }
  return false;
}

class IasCutter {
 public:
  explicit IasCutter(std::string_view source) : source_(source) {}

  // Parses `text` (which starts at byte `base` of the source) as the content of a <div> and
  // records a cut for every IAS element, comment and text run in it.
  void scan(std::string_view text, size_t base, int reparse_depth) {
    GumboOptions options = kGumboDefaultOptions;
    options.max_errors = 0;
    // Snippets are fragments placed inside our wrapper <div>, so they are parsed as div content.
    options.fragment_context = GUMBO_TAG_DIV;
    GumboParse parse(text, options, /*use_arena=*/reparse_depth == 0);
    // Iterative walk: nesting is bounded by kMaxHtmlDepth, but the stack of the caller is not ours.
    std::vector<const GumboNode*> stack{parse.root()};
    while (!stack.empty()) {
      const GumboNode* node = stack.back();
      stack.pop_back();
      switch (node->type) {
        case GUMBO_NODE_ELEMENT:
        case GUMBO_NODE_TEMPLATE:
          visit_element(node, text, base, stack);
          break;
        case GUMBO_NODE_COMMENT:
          if (text_mentions_ias(node->v.text)) cut_text(node->v.text, base);
          break;
        case GUMBO_NODE_TEXT:
        case GUMBO_NODE_WHITESPACE:
        case GUMBO_NODE_CDATA:
          if (text_mentions_ias(node->v.text)) {
            const GumboNode* parent = node->parent;
            bool in_noscript =
                parent && parent->type == GUMBO_NODE_ELEMENT && parent->v.element.tag == GUMBO_TAG_NOSCRIPT;
            if (in_noscript && reparse_depth < kMaxNoscriptReparse) {
              // With scripting on, <noscript> content is text: parse it as markup and cut only the
              // IAS element inside, so the noscript (and any DV pixel beside it) stays.
              const auto& t = node->v.text;
              scan(std::string_view(t.original_text.data, t.original_text.length), base + t.start_pos.offset,
                   reparse_depth + 1);
            } else {
              cut_text(node->v.text, base);
            }
          }
          break;
        default:
          break;
      }
    }
  }

  std::vector<Cut> merged_cuts() {
    std::sort(cuts_.begin(), cuts_.end(), [](const Cut& a, const Cut& b) {
      return a.begin != b.begin ? a.begin < b.begin : a.end > b.end;
    });
    std::vector<Cut> merged;
    for (const auto& c : cuts_) {
      if (!merged.empty() && c.begin < merged.back().end) {
        merged.back().end = std::max(merged.back().end, c.end);
      } else {
        merged.push_back(c);
      }
    }
    return merged;
  }

 private:
  void visit_element(const GumboNode* node, std::string_view text, size_t base,
                     std::vector<const GumboNode*>& stack) {
    const GumboElement& e = node->v.element;
    // Elements made by the parser (implied tbody, reconstructed or cloned formatting elements)
    // have no bytes of their own; their source elements are visited where they appear.
    bool own_bytes = e.original_tag.length > 0 &&
                     !(node->parse_flags & (GUMBO_INSERTION_ADOPTION_AGENCY_CLONED |
                                            GUMBO_INSERTION_RECONSTRUCTED_FORMATTING_ELEMENT));
    // The tag text counts too: gumbo drops duplicate attributes and end-tag attributes, which a
    // browser ignores as well, but rule 1 wants no IAS mention left in the bytes.
    bool tag_text_ias = mentions_ias(std::string_view(e.original_tag.data, e.original_tag.length)) ||
                        mentions_ias(std::string_view(e.original_end_tag.data, e.original_end_tag.length));
    if (own_bytes && (tag_text_ias || attributes_mention_ias(e) || raw_text_mentions_ias(e))) {
      size_t begin = e.start_pos.offset;
      size_t end =
          std::max(begin + e.original_tag.length, size_t{e.end_pos.offset} + e.original_end_tag.length);
      end = std::min(end, text.size());
      if (begin < end) {
        add_cut(base + begin, base + end);
        return;
      }
    }
    for (unsigned i = e.children.length; i > 0; --i)
      stack.push_back(static_cast<const GumboNode*>(e.children.data[i - 1]));
  }

  void cut_text(const GumboText& t, size_t base) {
    size_t begin = base + t.start_pos.offset;
    add_cut(begin, begin + t.original_text.length);
  }

  void add_cut(size_t begin, size_t end) {
    end = std::min(end, source_.size());
    if (begin < end) cuts_.push_back({begin, end});
  }

  std::string_view source_;
  std::vector<Cut> cuts_;
};

bool is_void_element(std::string_view name) {
  static constexpr std::array<std::string_view, 16> kVoid{
      "area",   "base", "br",   "col",   "embed",  "hr",    "img", "input",
      "keygen", "link", "meta", "param", "source", "track", "wbr", "image"};
  return std::find(kVoid.begin(), kVoid.end(), name) != kVoid.end();
}

bool is_raw_text_name(std::string_view name) {
  static constexpr std::array<std::string_view, 9> kRaw{
      "script", "style", "xmp", "iframe", "noembed", "noframes", "textarea", "title", "plaintext"};
  return std::find(kRaw.begin(), kRaw.end(), name) != kRaw.end();
}

bool name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == ':' || c == '.';
}

}  // namespace

size_t html_depth_estimate(std::string_view html, size_t limit) {
  std::vector<std::string> open;
  size_t deepest = 0;
  int foreign = 0;  // open <svg>/<math>: there "/>" really closes an element
  size_t i = 0;
  const size_t n = html.size();
  while (i < n && deepest <= limit) {
    size_t lt = html.find('<', i);
    if (lt == std::string_view::npos || lt + 1 >= n) break;
    char c = html[lt + 1];
    if (c == '!') {
      size_t close = html.compare(lt, 4, "<!--") == 0 ? html.find("-->", lt + 4) : html.find('>', lt + 2);
      i = close == std::string_view::npos ? n : close + 1;
      continue;
    }
    bool end_tag = c == '/';
    size_t name_start = lt + (end_tag ? 2 : 1);
    size_t p = name_start;
    while (p < n && name_char(html[p])) ++p;
    if (p == name_start || !std::isalpha(static_cast<unsigned char>(html[name_start]))) {
      i = lt + 1;
      continue;
    }
    std::string name = to_lower(html.substr(name_start, p - name_start));
    // Skip the attributes, honouring quotes, to the closing '>'.
    char quote = 0;
    bool self_closing = false;
    while (p < n) {
      char ch = html[p];
      if (quote) {
        if (ch == quote) quote = 0;
      } else if (ch == '"' || ch == '\'') {
        quote = ch;
      } else if (ch == '>') {
        self_closing = p > 0 && html[p - 1] == '/';
        break;
      }
      ++p;
    }
    i = p < n ? p + 1 : n;
    if (end_tag) {
      auto it = std::find(open.rbegin(), open.rend(), name);
      if (it != open.rend()) {
        size_t keep = static_cast<size_t>(open.rend() - it) - 1;
        for (size_t k = keep; k < open.size(); ++k) {
          if (open[k] == "svg" || open[k] == "math") --foreign;
        }
        open.resize(keep);
      }
      continue;
    }
    if (is_void_element(name) || (self_closing && foreign > 0)) continue;
    open.push_back(name);
    if (name == "svg" || name == "math") ++foreign;
    deepest = std::max(deepest, open.size());
    if (is_raw_text_name(name)) {
      // Raw text runs to the matching end tag; markup inside it is not markup.
      std::string end = "</" + name;
      size_t q = i;
      size_t found = std::string_view::npos;
      while (q < n) {
        size_t cand = html.find("</", q);
        if (cand == std::string_view::npos) break;
        if (contains_ci(html.substr(cand, end.size()), end) &&
            html.substr(cand, end.size()).size() == end.size()) {
          found = cand;
          break;
        }
        q = cand + 2;
      }
      i = found == std::string_view::npos ? n : found;
    }
  }
  return deepest;
}

HtmlCleaning remove_ias_from_html(std::string_view html) {
  if (html_depth_estimate(html, kMaxHtmlDepth) > kMaxHtmlDepth) {
    throw Error::validation(
        {{"snippet", "HTML nests deeper than " + std::to_string(kMaxHtmlDepth) + " elements"}});
  }
  HtmlCleaning out;
  IasCutter cutter(html);
  cutter.scan(html, 0, 0);
  size_t pos = 0;
  out.html.reserve(html.size());
  for (const auto& cut : cutter.merged_cuts()) {
    out.html.append(html.substr(pos, cut.begin - pos));
    std::string removed(html.substr(cut.begin, cut.end - cut.begin));
    if (mentions_dv(removed)) {
      out.warnings.push_back("a DoubleVerify tag inside a removed IAS element was removed with it");
    }
    out.removed.push_back(std::move(removed));
    pos = cut.end;
  }
  out.html.append(html.substr(pos));
  // Bytes the parser turned into no node at all (a tag cut off by the end of the input) cannot be
  // cut as an element; refusing is safer than guessing where such markup ends.
  if (mentions_ias(out.html)) {
    throw Error::validation(
        {{"snippet",
          "an IAS (adsafeprotected) reference in malformed markup cannot be cut out as an element"}});
  }
  return out;
}

}  // namespace kargo::domain::detail
