"""WeasyPrint and the system libraries it needs are installed and render a PDF."""

from weasyprint import HTML


def test_weasyprint_renders_a_pdf():
    pdf = HTML(string="<h1>Plimsoll</h1><p>Ärger über Überstunden</p>").write_pdf()
    assert pdf.startswith(b"%PDF-")
    assert len(pdf) > 500
