using System.Globalization;
using Compact.Distill;

namespace Compact.Tests.Build;

/// <summary>Text that carries numbers is written with the invariant culture, whatever the machine's locale.</summary>
public class CultureTests
{
    static T UnderGerman<T>(Func<T> f)
    {
        var (c, ui) = (CultureInfo.CurrentCulture, CultureInfo.CurrentUICulture);
        CultureInfo.CurrentCulture = CultureInfo.CurrentUICulture = new CultureInfo("de-DE");
        try
        {
            Assert.Equal("0,5", 0.5.ToString(CultureInfo.CurrentCulture));   // the locale really is German here
            return f();
        }
        finally { (CultureInfo.CurrentCulture, CultureInfo.CurrentUICulture) = (c, ui); }
    }

    [Fact]
    public void Score_table_rows_use_a_decimal_point_under_a_German_locale()
    {
        var rows = UnderGerman(() => Scoring.Rows([new TeacherSummary("t", 1234, 0.5, 0.25, 1.5, -0.125, 0.0625)]).Single());
        // The invariant culture writes percentages as "n %" (PercentPositivePattern 0).
        Assert.Equal(["t", "1234", "0.500", "25 %", "1.500", "-0.125", "0.0625"], rows);
    }
}
