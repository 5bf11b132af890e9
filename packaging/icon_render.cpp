// dlab_icon_render: draws an SVG icon as square PNGs for the hicolor theme.
//   dlab_icon_render <icon.svg> <out-dir> <name> <size>...
// writes <out-dir>/<size>x<size>/apps/<name>.png for each size. A build-time
// tool (packaging/CMakeLists.txt), so the PNGs are always the committed SVG's.
#include <QDir>
#include <QGuiApplication>
#include <QImage>
#include <QPainter>
#include <QSvgRenderer>
#include <cstdio>

int main(int argc, char** argv) {
  qputenv("QT_QPA_PLATFORM", "offscreen");  // a build machine has no display
  QGuiApplication app(argc, argv);
  if (argc < 5) {
    std::fprintf(stderr, "usage: dlab_icon_render <icon.svg> <out-dir> <name> <size>...\n");
    return 2;
  }
  QSvgRenderer svg(QString::fromLocal8Bit(argv[1]));
  if (!svg.isValid()) {
    std::fprintf(stderr, "dlab_icon_render: %s is not a readable SVG\n", argv[1]);
    return 2;
  }
  for (int i = 4; i < argc; ++i) {
    bool ok = false;
    const int size = QString::fromLocal8Bit(argv[i]).toInt(&ok);
    if (!ok || size < 8 || size > 1024) {
      std::fprintf(stderr, "dlab_icon_render: size '%s' is not a whole number in [8, 1024]\n",
                   argv[i]);
      return 2;
    }
    QImage image(size, size, QImage::Format_ARGB32_Premultiplied);
    image.fill(Qt::transparent);
    QPainter painter(&image);
    painter.setRenderHint(QPainter::Antialiasing);
    svg.render(&painter);
    painter.end();
    const QString dir = QString("%1/%2x%2/apps").arg(QString::fromLocal8Bit(argv[2])).arg(size);
    const QString file = QString("%1/%2.png").arg(dir, QString::fromLocal8Bit(argv[3]));
    if (!QDir().mkpath(dir) || !image.save(file, "PNG")) {
      std::fprintf(stderr, "dlab_icon_render: cannot write %s\n", qPrintable(file));
      return 2;
    }
  }
  return 0;
}
