// fmt's implementation, compiled once for the whole core.
//
// The core carries fmt inside it: librouter_c needs no libfmt and exports no
// fmt symbol (docs/embedding.md). fmt's header-only mode would give that too,
// but it compiles the implementation into every source file that formats:
// about 3.5 s more per file in a release build and 14 s under ASan+UBSan.
// So the other files see fmt's declarations only, and this file holds the
// definitions, as libfmt's own format.cc does. The explicit instantiations
// are the templates fmt declares `extern` or defines only in format-inl.h;
// a missing one is an undefined symbol at link time, never a silent change.
#include "fmt/format-inl.h"

#if FMT_VERSION < 90000 || FMT_VERSION >= 100000
#error "fmt_impl.cc lists fmt 9's instantiations (src/CMakeLists.txt uses it for fmt 9 only)"
#endif

FMT_BEGIN_NAMESPACE
namespace detail {

template FMT_API auto dragonbox::to_decimal(float x) noexcept
    -> dragonbox::decimal_fp<float>;
template FMT_API auto dragonbox::to_decimal(double x) noexcept
    -> dragonbox::decimal_fp<double>;

template FMT_API locale_ref::locale_ref(const std::locale& loc);
template FMT_API auto locale_ref::get<std::locale>() const -> std::locale;

template FMT_API auto thousands_sep_impl(locale_ref)
    -> thousands_sep_result<char>;
template FMT_API auto decimal_point_impl(locale_ref) -> char;
template FMT_API void buffer<char>::append(const char*, const char*);
template FMT_API void vformat_to(buffer<char>&, string_view,
                                 basic_format_args<FMT_BUFFER_CONTEXT(char)>,
                                 locale_ref);

}  // namespace detail
FMT_END_NAMESPACE
