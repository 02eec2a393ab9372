// test_report.cpp — moments-plot --report DIR LOG.csv...: the static HTML report.
// Logs written here are turned into a report, whose page is read back by a small
// tolerant HTML reader: every image and link names a file in DIR, no script, no
// http(s) reference, the elements balanced, text from the logs escaped; and the
// error cases fail naming the file and line, leaving an earlier report as it was.
// Run: meson test -C build --suite plots   (the files go to the build folder)
#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "plots_testing.hpp"

using namespace plots_testing;
namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot read ", path.string());
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// The names of the files in a folder, with their contents.
std::map<std::string, std::string> folder(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::directory_iterator(dir)) files[entry.path().filename().string()] = read_text(entry.path());
  return files;
}

// A training log as the monitor writes one (a few of its columns, few charts: each
// file the report writes is synced to disk): step, loss, its smoothing, a spike
// flag, per-parameter gradient norms and update ratios (two parameters), state
// bytes, and a column whose name holds < & > and quotes.
std::string monitor_log(double scale, int spike_step) {
  std::string text =
      "step,loss,smoothed_loss,loss_spike,grad_norm.fc1.weight,grad_norm.fc1.bias,"
      "update_ratio.fc1.weight,update_ratio.fc1.bias,bytes.exp_avg.cpu,\"a<b&c> \"\"q\"\" 'x'\"\n";
  for (int step = 1; step <= 12; ++step) {
    double loss = scale / step;
    std::ostringstream row;
    row << step << ',' << loss << ',' << loss * 1.1 << ',' << (step == spike_step) << ',' << loss << ',' << loss / 10
        << ',' << 1e-3 / step << ',' << 1e-2 / step << ",4096," << step % 3 << '\n';
    text += row.str();
  }
  return text;
}

// One tag of a page: <name attr="value" ...> or </name>.
struct Tag {
  std::string name;  // lower case
  bool closing = false;
  std::map<std::string, std::string> attributes;  // values as written (escaped)
};

struct Page {
  std::vector<Tag> tags;
  std::string text;  // everything outside tags, as written (escaped)
};

// A tolerant reader: tags and their attributes, comments and <!DOCTYPE> skipped.
Page read_page(const std::string& html) {
  Page page;
  auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  size_t i = 0;
  while (i < html.size()) {
    if (html[i] != '<') {
      page.text += html[i++];
      continue;
    }
    if (html.compare(i, 4, "<!--") == 0) {
      size_t end = html.find("-->", i);
      i = end == std::string::npos ? html.size() : end + 3;
      continue;
    }
    if (html.compare(i, 2, "<!") == 0) {
      i = html.find('>', i) + 1;
      continue;
    }
    Tag tag;
    ++i;
    if (i < html.size() && html[i] == '/') tag.closing = true, ++i;
    size_t start = i;
    while (i < html.size() && std::isalnum(static_cast<unsigned char>(html[i]))) ++i;
    tag.name = lower(html.substr(start, i - start));
    while (i < html.size() && html[i] != '>') {
      if (std::isspace(static_cast<unsigned char>(html[i])) || html[i] == '/') {
        ++i;
        continue;
      }
      start = i;
      while (i < html.size() && !std::strchr(" \t\n=>/", html[i])) ++i;
      std::string name = lower(html.substr(start, i - start)), value;
      if (i < html.size() && html[i] == '=') {
        ++i;
        char quote = i < html.size() && (html[i] == '"' || html[i] == '\'') ? html[i++] : 0;
        start = i;
        while (i < html.size() && (quote ? html[i] != quote : !std::strchr(" \t\n>", html[i]))) ++i;
        value = html.substr(start, i - start);
        if (quote && i < html.size()) ++i;
      }
      tag.attributes[name] = value;
    }
    ++i;
    page.tags.push_back(std::move(tag));
  }
  return page;
}

// Every '&' starts an entity (&name; or &#...;): nothing from a log went in raw.
void check_entities(const std::string& text, const std::string& where) {
  for (size_t at = text.find('&'); at != std::string::npos; at = text.find('&', at + 1)) {
    size_t end = at + 1;
    while (end < text.size() && (std::isalnum(static_cast<unsigned char>(text[end])) || text[end] == '#')) ++end;
    CHECK_MESSAGE((end < text.size() && text[end] == ';' && end > at + 1), "a bare '&' in ", where, ": ",
                  text.substr(at, 20));
  }
}

// What every report page must be: balanced, self-contained, escaped, and its
// images and links files of `dir`. Returns the page.
Page check_page(const fs::path& dir) {
  const std::string html = read_text(dir / "index.html");
  std::string lower = html;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  CHECK(lower.find("<script") == std::string::npos);
  CHECK(lower.find("http://") == std::string::npos);
  CHECK(lower.find("https://") == std::string::npos);
  CHECK(lower.find("url(") == std::string::npos);  // no resource from the style either
  Page page = read_page(html);
  const std::set<std::string> void_elements = {"meta", "img", "br", "hr"};
  std::vector<std::string> open;
  for (const Tag& tag : page.tags) {
    INFO("tag <", (tag.closing ? "/" : ""), tag.name, ">");
    CHECK(!tag.name.empty());
    CHECK(tag.name != "link");  // no stylesheet, script, frame or object from elsewhere
    CHECK(tag.name != "iframe");
    CHECK(tag.name != "object");
    for (const auto& [name, value] : tag.attributes) {
      CHECK(name.rfind("on", 0) != 0);  // no event handlers (scripts by another name)
      check_entities(value, "attribute " + name);
      if (name == "src" || name == "href") {
        INFO(name, "=\"", value, "\"");
        CHECK(value.find('/') == std::string::npos);  // a file of DIR itself: no folder, no scheme, no ..
        CHECK(value.find(':') == std::string::npos);
        CHECK(fs::is_regular_file(dir / value));
        if (tag.name == "img") CHECK(read_text(dir / value).compare(0, 4, "\x89PNG") == 0);
      }
    }
    if (void_elements.count(tag.name)) continue;
    if (!tag.closing) {
      open.push_back(tag.name);
    } else {
      REQUIRE_MESSAGE(!open.empty(), "</", tag.name, "> closes nothing");
      CHECK_MESSAGE(open.back() == tag.name, "</", tag.name, "> closes <", open.back(), ">");
      open.pop_back();
    }
  }
  CHECK_MESSAGE(open.empty(), open.size(), " elements left open");
  check_entities(page.text, "the text");
  return page;
}

size_t count_tags(const Page& page, const std::string& name) {
  return std::count_if(page.tags.begin(), page.tags.end(), [&](const Tag& t) { return t.name == name && !t.closing; });
}

}  // namespace

TEST_CASE("a report of two runs: summary rows, charts as files, escaped names, nothing external") {
  fs::remove_all("report_two");
  fs::create_directories("report_logs/a"), fs::create_directories("report_logs/b");
  write_text("report_logs/a/run.csv", monitor_log(2.0, 5));
  write_text("report_logs/b/run.csv", monitor_log(3.0, 0));
  Outcome outcome = run({"--report", "report_two/new", "report_logs/a/run.csv", "report_logs/b/run.csv"});
  INFO(outcome.output);
  REQUIRE(outcome.status == 0);  // report_two/new did not exist: made
  CHECK(outcome.output.find("wrote report_two/new/index.html (2 logs,") != std::string::npos);
  const fs::path dir = "report_two/new";
  Page page = check_page(dir);

  // One summary row per run (and the header's): the first table.
  auto first_table_end = std::find_if(page.tags.begin(), page.tags.end(), [](const Tag& t) { return t.name == "table" && t.closing; });
  size_t summary_rows = std::count_if(page.tags.begin(), first_table_end, [](const Tag& t) { return t.name == "tr" && !t.closing; });
  CHECK(summary_rows == 1 + 2);
  CHECK(page.text.find("report_logs/a/run.csv") != std::string::npos);
  CHECK(page.text.find("1 (5)") != std::string::npos);  // run a's spike at step 5, counted
  CHECK(page.text.find("0.1667 (12)") != std::string::npos);  // run a's best loss 2/12 at step 12
  CHECK(page.text.find("8 KiB") == std::string::npos);  // one bytes column of 4096
  CHECK(page.text.find("4 KiB") != std::string::npos);

  // The column whose name holds < & > and quotes is escaped, never raw.
  const std::string html = read_text(dir / "index.html");
  CHECK(html.find("a&lt;b&amp;c&gt; &quot;q&quot; &#39;x&#39;") != std::string::npos);
  CHECK(html.find("a<b") == std::string::npos);

  // Every PNG in the folder is shown; the per-parameter families get a heat map per run, whose two
  // runs' stems (both "run") are kept apart; file names are plain.
  std::map<std::string, std::string> files = folder(dir);
  std::set<std::string> shown;
  for (const Tag& t : page.tags)
    if (t.name == "img") shown.insert(t.attributes.at("src"));
  size_t pngs = 0;
  for (const auto& [name, bytes] : files) {
    INFO(name);
    CHECK(name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") == std::string::npos);
    if (name == "index.html") continue;
    ++pngs;
    CHECK(shown.count(name) == 1);
  }
  CHECK(pngs == shown.size());
  CHECK(count_tags(page, "img") == shown.size());
  CHECK(files.count("update_ratio-per-parameter-run.png") == 1);
  CHECK(files.count("update_ratio-per-parameter-run-2.png") == 1);
  CHECK(files.count("loss.png") == 1);  // loss and smoothed_loss of both runs, overlaid
  CHECK(files.count("loss_spike.png") == 0);  // a flag: counted in the table, not drawn
}

TEST_CASE("a report's file names come from any log name safely; a report is replaced whole") {
  fs::remove_all("report_names");
  fs::create_directories("report_names/logs");
  const std::string odd = "report_names/logs/../logs/<odd> & \"name\".csv";
  write_text(odd, monitor_log(1.0, 3));
  Outcome outcome = run({"--report", "report_names/out", odd, "--title", "first <title>"});
  INFO(outcome.output);
  REQUIRE(outcome.status == 0);
  Page page = check_page("report_names/out");
  CHECK(read_text("report_names/out/index.html").find("first &lt;title&gt;") != std::string::npos);
  CHECK(page.text.find("&lt;odd&gt; &amp; &quot;name&quot;.csv") != std::string::npos);
  CHECK(fs::is_regular_file("report_names/out/update_ratio-per-parameter.png"));  // one run: no run stem

  outcome = run({"--report", "report_names/out", odd, "--title", "second"});
  REQUIRE(outcome.status == 0);
  std::map<std::string, std::string> files = folder("report_names/out");
  CHECK(files.at("index.html").find("<h1>second</h1>") != std::string::npos);
  for (const auto& [name, bytes] : files) CHECK_MESSAGE(name.rfind(".moments-tmp", 0) != 0, "left behind: ", name);
}

TEST_CASE("a bad log fails naming the file and line, and leaves the report there as it was") {
  fs::remove_all("report_keep");
  fs::create_directories("report_keep");
  write_text("report_keep/good.csv", monitor_log(1.0, 0));
  REQUIRE(run({"--report", "report_keep/out", "report_keep/good.csv"}).status == 0);
  const std::map<std::string, std::string> before = folder("report_keep/out");

  std::string bad = monitor_log(1.0, 0);
  bad.replace(bad.find("\n3,") + 1, 1, "x");  // line 4 of the file: step "x"
  write_text("report_keep/bad.csv", bad);
  write_text("report_keep/empty.csv", "");
  write_text("report_keep/header.csv", "step,loss\n");
  write_text("report_keep/short.csv", "step,loss\n1,0.5\n2\n");
  const std::string out = "report_keep/out";
  check_fails({"--report", out, "report_keep/good.csv", "report_keep/bad.csv"}, 1,
              {"report_keep/bad.csv:4: field 1 (\"step\") is not a number: \"x\""});
  check_fails({"--report", out, "report_keep/empty.csv"}, 1, {"report_keep/empty.csv: empty file"});
  check_fails({"--report", out, "report_keep/header.csv"}, 1, {"report_keep/header.csv: no data rows"});
  check_fails({"--report", out, "report_keep/short.csv"}, 1, {"report_keep/short.csv:3: expected 2 fields"});
  check_fails({"--report", out, "report_keep/missing.csv"}, 1, {"cannot open", "report_keep/missing.csv"});
  CHECK(folder(out) == before);  // not a byte changed, no file added

  // A file where the folder should be, and usage errors.
  check_fails({"--report", "report_keep/good.csv", "report_keep/good.csv"}, 1,
              {"--report \"report_keep/good.csv\": cannot make this folder"});
  check_fails({"--report", out}, 2, {"no log file given"});
  check_fails({"--report", out, "report_keep/good.csv", "--out", "x.png"}, 2, {"drop --out"});
  check_fails({"--report", out, "report_keep/good.csv", "--log-y"}, 2, {"only --title and --smooth apply"});
  check_fails({"report_keep/good.csv", "report_keep/good.csv", "--out", "x.png"}, 2,
              {"one log at a time", "--report DIR"});
  CHECK(folder(out) == before);
}

TEST_CASE("html_escape and file_stem") {
  CHECK(html_escape("<b a='1' c=\"2\">&amp;</b>") == "&lt;b a=&#39;1&#39; c=&quot;2&quot;&gt;&amp;amp;&lt;/b&gt;");
  CHECK(html_escape("tab\there\x1b[2J") == "tab\there&#xFFFD;[2J");
  CHECK(html_escape("ünïcode ‖m‖") == "ünïcode ‖m‖");
  CHECK(file_stem("../../etc/passwd") == "etc_passwd");
  CHECK(file_stem("update_ratio.fc1.weight") == "update_ratio_fc1_weight");
  CHECK(file_stem("") == "run");
  CHECK(file_stem("...///") == "run");
  CHECK(file_stem("-rf") == "rf");  // never an option to a shell command that lists the folder
  CHECK(file_stem(std::string(500, 'a')).size() == 60);
}
